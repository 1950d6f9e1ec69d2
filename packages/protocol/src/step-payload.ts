import type { HashedStepId } from "./frames.js";

// The one place that knows the byte layout of a data payload: `{"step":<id or null>,"data":<chunk JSON>}`.
// Commit and rollback payloads open with the same `{"step":<id or null>` (see `encodeFramePayload`).
// The encoder, the decoder's fast path, the stores' shared-prefix log and the executor's log scan all
// go through the functions below.

/** How every data, commit and rollback payload opens. */
export const STEP_KEY = '{"step":';
/** How the payload of a frame outside any step opens (`{"step":null`). */
export const OUTSIDE_STEP_OPENING = '{"step":null';
/** The opening of a data payload outside any step: `{"step":null,"data":`. */
export const NULL_STEP_DATA_PREFIX = '{"step":null,"data":';
/** What comes between a step id's JSON and the chunk's JSON in a data payload. */
export const DATA_KEY = ',"data":';
/**
 * The longest data-payload opening `dataPayloadPrefixLength` accepts. A hashed step id makes it 58
 * characters (`{"step":null,"data":` is 20); anything far longer is not worth sharing, and the bound
 * keeps the search for `,"data":` from scanning a large payload that lacks it.
 */
export const MAX_DATA_PAYLOAD_PREFIX_LENGTH = 256;

const CLOSING_BRACE = 0x7d;
const QUOTE = 0x22;
const LOWERCASE_N = 0x6e;

/**
 * The `{"step":…,"data":` opening of the data payloads of one step (or of outside-step chunks, for null).
 */
export function dataPayloadPrefix(hashedStepId: HashedStepId): string {
  return hashedStepId === null ? NULL_STEP_DATA_PREFIX : `${STEP_KEY}${JSON.stringify(hashedStepId)}${DATA_KEY}`;
}

/**
 * The JSON payload of a data frame, from the chunk's already serialized JSON. Saves serializing
 * the chunk twice on the hot path. Same bytes as `encodeFramePayload` of the data frame.
 *
 * @internal Per-chunk encoder for the server and tools of this monorepo (`@durastream/protocol/internal`).
 */
export function encodeDataPayload(hashedStepId: HashedStepId, dataJson: string): string {
  return `${dataPayloadPrefix(hashedStepId)}${dataJson}}`;
}

/**
 * A data-payload encoder for one step: the `{"step":…,"data":` prefix is built once, so the per-chunk
 * cost is one string concatenation. Same output as `encodeDataPayload`.
 *
 * @internal Per-chunk encoder for the server and tools of this monorepo (`@durastream/protocol/internal`).
 */
export function createDataPayloadEncoder(hashedStepId: HashedStepId): (dataJson: string) => string {
  const prefix = dataPayloadPrefix(hashedStepId);
  return (dataJson) => `${prefix}${dataJson}}`;
}

/**
 * The length of the `{"step":…,"data":` opening of a data payload as the encoder writes it
 * (`{"step":<id>,"data":<chunk JSON>}`, see `createDataPayloadEncoder`), or -1 when `payload` does
 * not have that shape (it must also end with `}`). A log stores frames that share the opening
 * without it, and puts it back on read: `opening + middle + "}"` gives the payload back exactly,
 * whatever the characters between, so the check does not need to parse JSON.
 *
 * @internal Used by the stores' frame log.
 */
export function dataPayloadPrefixLength(payload: string): number {
  if (!payload.startsWith(STEP_KEY) || payload.charCodeAt(payload.length - 1) !== CLOSING_BRACE) return -1;
  // Searched in a bounded window (a slice is O(1)), not across a payload of megabytes.
  const key = payload.slice(0, MAX_DATA_PAYLOAD_PREFIX_LENGTH).indexOf(DATA_KEY, STEP_KEY.length);
  if (key < 0 || key + DATA_KEY.length > MAX_DATA_PAYLOAD_PREFIX_LENGTH) return -1;
  // The opening ends with ":" and the payload with "}", so the opening is always shorter than the payload.
  return key + DATA_KEY.length;
}

/**
 * Whether a data, commit or rollback payload is of a frame outside any step (opens `{"step":null`).
 * One character test for most payloads (a step's payload has `"` where an outside one has `n`), no
 * allocation.
 *
 * @internal Used by the stores to track pending outside-step chunks.
 */
export function isOutsideStepPayload(payload: string): boolean {
  return payload.charCodeAt(STEP_KEY.length) === LOWERCASE_N && payload.startsWith(OUTSIDE_STEP_OPENING);
}

/**
 * The hashed step id a data, commit or rollback payload opens with, read without parsing the
 * payload, for payloads as this protocol's encoder writes them (a hashed step id needs no JSON
 * escapes); `undefined` when the payload does not open with `{"step":null` or `{"step":"`.
 *
 * @internal Used by the executor's log scan.
 */
export function stepOfPayload(payload: string): HashedStepId | undefined {
  if (isOutsideStepPayload(payload)) return null;
  if (payload.charCodeAt(STEP_KEY.length) === QUOTE && payload.startsWith(STEP_KEY)) {
    return payload.slice(STEP_KEY.length + 1, payload.indexOf('"', STEP_KEY.length + 1));
  }
  return undefined;
}
