const STEP_KEY = '{"step":';
const DATA_KEY = ',"data":';
const CLOSING_BRACE = 0x7d;

/**
 * The longest envelope opening `dataPayloadPrefixLength` accepts. A hashed step id makes it 58
 * characters (`{"step":null,"data":` is 20); anything far longer is not worth sharing, and the bound
 * keeps the search for `,"data":` from scanning a large payload that lacks it.
 */
export const MAX_DATA_PAYLOAD_PREFIX_LENGTH = 256;

/**
 * The length of the `{"step":…,"data":` opening of a data payload as the encoder writes it
 * (`{"step":<id>,"data":<chunk JSON>}`, see `createDataPayloadEncoder`), or -1 when `payload` does
 * not have that shape (it must also end with `}`). A log stores frames that share the opening
 * without it, and puts it back on read: `opening + middle + "}"` gives the payload back exactly,
 * whatever the characters between, so the check does not need to parse JSON.
 *
 * @example
 * ```ts
 * dataPayloadPrefixLength('{"step":null,"data":"hi"}'); // 20, the length of '{"step":null,"data":'
 * dataPayloadPrefixLength('{"data":"hi","step":null}'); // -1
 * ```
 */
export function dataPayloadPrefixLength(payload: string): number {
  if (!payload.startsWith(STEP_KEY) || payload.charCodeAt(payload.length - 1) !== CLOSING_BRACE) return -1;
  // Searched in a bounded window (a slice is O(1)), not across a payload of megabytes.
  const key = payload.slice(0, MAX_DATA_PAYLOAD_PREFIX_LENGTH).indexOf(DATA_KEY, STEP_KEY.length);
  if (key < 0 || key + DATA_KEY.length > MAX_DATA_PAYLOAD_PREFIX_LENGTH) return -1;
  // The opening ends with ":" and the payload with "}", so the opening is always shorter than the payload.
  return key + DATA_KEY.length;
}
