import type { Frame, FramePayload, FrameType } from "./frames.js";
import { encodeDataPayload } from "./step-payload.js";
import { InvalidOptionsError } from "./errors.js";

/** The SSE comment sent on idle connections so proxies and clients keep them open. */
export const KEEP_ALIVE_COMMENT = ": keep-alive\n\n";

/**
 * Writes one SSE event. `json` must be single-line JSON (what `JSON.stringify` returns without
 * indentation); `id` is the frame's offset, omitted for frames outside the log.
 *
 * This is the allocation-light path the server uses per chunk; most code wants `encodeFrame`.
 *
 * @internal Per-chunk encoder for the server of this monorepo (`@durastream/protocol/internal`).
 * @example
 * ```ts
 * encodeEvent("commit", "1-7", '{"step":null}'); // "event: commit\nid: 1-7\ndata: {\"step\":null}\n\n"
 * ```
 */
export function encodeEvent(event: FrameType, id: string | undefined, json: string): string {
  return id === undefined ? `event: ${event}\ndata: ${json}\n\n` : `event: ${event}\nid: ${id}\ndata: ${json}\n\n`;
}

/**
 * The JSON payload (the SSE `data:` line) of a frame, without its event name and offset (so the
 * frame may be given without one, as before a store has assigned it).
 *
 * @example
 * ```ts
 * encodeFramePayload({ type: "commit", offset: "1-2", hashedStepId: null }); // '{"step":null}'
 * ```
 */
export function encodeFramePayload(frame: FramePayload): string {
  switch (frame.type) {
    case "metadata":
      return JSON.stringify({ runId: frame.runId, version: frame.protocolVersion, resumeUrl: frame.resumeUrl });
    case "data": {
      const json = JSON.stringify(frame.data);
      if (json === undefined) throw new InvalidOptionsError("encodeFramePayload: data frame data must be JSON-serializable.");
      return encodeDataPayload(frame.hashedStepId, json);
    }
    case "commit":
      return JSON.stringify({ step: frame.hashedStepId });
    case "rollback":
      return JSON.stringify({
        step: frame.hashedStepId,
        attempt: frame.attempt,
        willRetry: frame.willRetry,
        error: { name: frame.error.name, message: frame.error.message },
      });
    case "redirect":
      return JSON.stringify({ url: frame.url, reason: frame.reason });
    case "result":
      return JSON.stringify({ status: frame.status, response: frame.response });
  }
}

/**
 * Encodes a frame as SSE text, ready to write to a response.
 *
 * @example
 * ```ts
 * encodeFrame({ type: "data", offset: "1-3", hashedStepId: null, data: "Hi" });
 * // 'event: data\nid: 1-3\ndata: {"step":null,"data":"Hi"}\n\n'
 * ```
 */
export function encodeFrame(frame: Frame): string {
  return encodeEvent(frame.type, "offset" in frame ? frame.offset : undefined, encodeFramePayload(frame));
}

/**
 * Encodes an SSE comment line (ignored by every SSE client). Newlines in `text` are not allowed.
 *
 * @example
 * ```ts
 * encodeComment("keep-alive"); // ": keep-alive\n\n"
 * ```
 */
export function encodeComment(text: string): string {
  if (/[\r\n]/.test(text)) throw new InvalidOptionsError("encodeComment: a comment cannot contain line breaks.");
  return `: ${text}\n\n`;
}
