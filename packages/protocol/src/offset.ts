import { ProtocolError } from "./errors.js";

/**
 * A position in a run's frame log. `epoch` is the generation of the process that wrote the frame
 * (it grows when another process takes a run over), `sequence` counts frames in the log. Offsets
 * order by epoch first, then sequence, so frames written after a takeover always sort after
 * anything a client may hold from the process that died.
 */
export interface Offset {
  readonly epoch: number;
  readonly sequence: number;
}

/** The offset before the first frame of every log: reading "after" it replays the whole log. */
export const START_OFFSET: Offset = /* @__PURE__ */ Object.freeze({ epoch: 0, sequence: 0 });

/**
 * Renders an offset as it travels in SSE `id:` fields and `Last-Event-ID` headers: `"<epoch>-<sequence>"`.
 *
 * @example
 * ```ts
 * formatOffset({ epoch: 1, sequence: 42 }); // "1-42"
 * ```
 */
export function formatOffset(offset: Offset): string {
  return `${offset.epoch}-${offset.sequence}`;
}

/**
 * Parses an offset string. Throws a `ProtocolError` with code `INVALID_OFFSET` when it is not one.
 *
 * @example
 * ```ts
 * parseOffset("1-42"); // { epoch: 1, sequence: 42 }
 * ```
 */
export function parseOffset(text: string): Offset {
  // Checked and read by hand, not with a regular expression: stores parse a reader's cursor on
  // every read, and a match allocates an array and two strings.
  if (typeof text !== "string" || !isOffset(text)) {
    throw new ProtocolError(
      "INVALID_OFFSET",
      `"${String(text).slice(0, 64)}" is not a Durastream offset; expected "<epoch>-<sequence>" as sent in the SSE id field (e.g. "1-42").`,
    );
  }
  const dash = text.indexOf("-");
  return { epoch: digitsValue(text, 0, dash), sequence: digitsValue(text, dash + 1, text.length) };
}

/** The number the decimal digits `text[start, end)` spell (at most 15, so exact). */
function digitsValue(text: string, start: number, end: number): number {
  let value = 0;
  for (let index = start; index < end; index += 1) value = value * 10 + (text.charCodeAt(index) - 48);
  return value;
}

/**
 * Orders two offsets: negative when `a` comes first, 0 when equal, positive when `a` comes later.
 *
 * @example
 * ```ts
 * compareOffsets(parseOffset("1-9"), parseOffset("2-3")) < 0; // true: a new epoch sorts later
 * ```
 */
export function compareOffsets(a: Offset, b: Offset): number {
  return a.epoch !== b.epoch ? a.epoch - b.epoch : a.sequence - b.sequence;
}

/**
 * Whether `text` is a well-formed offset (`"<epoch>-<sequence>"`, 1 to 15 digits each), checked
 * without allocating: the decoder calls it for every frame.
 *
 * @example
 * ```ts
 * isOffset("1-42"); // true
 * isOffset("1-x");  // false
 * ```
 */
export function isOffset(text: string): boolean {
  const dash = text.indexOf("-");
  if (dash < 1 || dash > 15 || text.length - dash - 1 < 1 || text.length - dash - 1 > 15) return false;
  for (let index = 0; index < text.length; index += 1) {
    if (index === dash) continue;
    const code = text.charCodeAt(index);
    if (code < 48 || code > 57) return false;
  }
  return true;
}
