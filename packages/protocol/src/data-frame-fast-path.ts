import type { DataFrame, HashedStepId } from "./frames.js";
import { isOffset } from "./offset.js";
import { DATA_KEY as STEP_DATA_KEY, NULL_STEP_DATA_PREFIX as NULL_STEP_PREFIX, STEP_KEY } from "./step-payload.js";

// The envelope's layout comes from step-payload.ts; here it is only matched, for a step id in quotes.
const STEP_PREFIX = `${STEP_KEY}"`;
const DATA_KEY = `"${STEP_DATA_KEY}`;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CLOSING_BRACE = 0x7d;
const FIRST_PRINTABLE = 0x20;

/**
 * Decodes data frames written exactly the way the encoder writes them (`encodeDataPayload`):
 * `{"step":null,"data":<value>}` or `{"step":"<id>","data":<value>}` with a step id that needs no
 * JSON escapes. Only the chunk's own value goes through `JSON.parse` (the envelope around it is
 * matched as text), and the step id of the previous frame is reused as long as frames keep naming
 * it, so a stream of chunks from one step costs one small `JSON.parse` and one frame object each.
 *
 * `decode` returns `undefined` for anything else, a bad offset included; the caller then decodes
 * the frame with `decodeEvent`, which gives the same frame or the right error. What `decode`
 * returns is always what `decodeEvent` returns for the same input: the envelope is matched only
 * when it is exactly valid JSON with those two keys, so the payload is the JSON object
 * `{"step": id, "data": JSON.parse(value)}` whenever `value` parses on its own.
 *
 * @internal Used by `createFrameDecoder`; not exported.
 * @example
 * ```ts
 * const fastPath = new DataFrameFastPath();
 * fastPath.decode("1-5", '{"step":null,"data":"tok"}'); // { type: "data", offset: "1-5", hashedStepId: null, data: "tok" }
 * fastPath.decode("1-6", '{"data":"tok","step":null}'); // undefined: not as the encoder writes it
 * ```
 */
export class DataFrameFastPath {
  // `{"step":"<id>","data":` for the latest step id seen, an id made of characters that JSON writes
  // as themselves (and that id); empty until one has been seen.
  private stepPrefix = "";
  private step = "";

  /** The data frame with this offset (the SSE `id`) and JSON payload, or `undefined`: see the class. */
  decode(offset: string | undefined, json: string): DataFrame | undefined {
    if (offset === undefined || json.charCodeAt(json.length - 1) !== CLOSING_BRACE || !isOffset(offset)) return undefined;
    // Whole prefixes are matched with one `indexOf`: in V8 much faster than `startsWith` or
    // `charCodeAt` loops on the sliced strings the SSE parser hands out.
    let step: HashedStepId;
    let valueStart: number;
    if (this.stepPrefix !== "" && json.indexOf(this.stepPrefix) === 0) {
      step = this.step;
      valueStart = this.stepPrefix.length;
    } else if (json.indexOf(NULL_STEP_PREFIX) === 0) {
      step = null;
      valueStart = NULL_STEP_PREFIX.length;
    } else if (json.slice(0, STEP_PREFIX.length) === STEP_PREFIX) {
      const stepEnd = plainStringEnd(json, STEP_PREFIX.length);
      if (stepEnd <= STEP_PREFIX.length || json.slice(stepEnd, stepEnd + DATA_KEY.length) !== DATA_KEY) return undefined;
      valueStart = stepEnd + DATA_KEY.length;
      // Through JSON.parse rather than slice, so the id is a string of its own and does not keep the
      // whole chunk of text it was cut from alive as long as a frame holds it.
      step = this.step = JSON.parse(json.slice(STEP_PREFIX.length - 1, stepEnd + 1)) as string;
      this.stepPrefix = `${STEP_PREFIX}${step}${DATA_KEY}`;
    } else {
      return undefined;
    }
    let data: unknown;
    try {
      data = JSON.parse(json.slice(valueStart, -1));
    } catch {
      return undefined; // not JSON, or more keys after "data": the full decoder tells which
    }
    return { type: "data", offset, hashedStepId: step, data };
  }
}

/**
 * The index of the quote that closes a JSON string whose characters start at `start`, when the
 * string needs no escapes (no backslash, no control character); -1 otherwise.
 */
function plainStringEnd(text: string, start: number): number {
  for (let index = start; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (code === QUOTE) return index;
    if (code === BACKSLASH || code < FIRST_PRINTABLE) return -1;
  }
  return -1;
}
