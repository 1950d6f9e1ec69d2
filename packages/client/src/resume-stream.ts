import { InvalidOptionsError, ProtocolError, parseOffset } from "@durastream/protocol";
import type { ResumeStreamOptions } from "./fetch-with-stream-options.js";
import type { StreamCursor } from "./read-connection.js";
import { createRequestHeaders } from "./request-headers.js";
import { resolveUrl } from "./resolve-url.js";
import { settleStream, streamConnections } from "./stream-connections.js";

/**
 * Attaches to a run that is already going (or over), e.g. after a page reload or in a second tab:
 * reads the run's stream from its resume URL, after `offset` when given, and resolves with the
 * run's final `Response`, like `fetchWithStream`. Callbacks, redirects, reconnects, abort and
 * errors behave as in `fetchWithStream`, but the request is a `GET` and starts nothing; so when the
 * very first connection fails in a way a reconnect may cure, it is retried too. A `404` means the
 * run is unknown, or the resume token is wrong or expired (a `DurableClientError` with code `HTTP`).
 *
 * `resumeUrl` is the `resumeUrl` from `onMetadata` (or from a failed stream's
 * `DurableClientError`); `offset` is the `offset` of the last frame you applied, sent as the
 * `Last-Event-ID` header. Frames at or before it are not delivered again, so state kept from
 * before picks up exactly where it stopped. Rejects with an `InvalidOptionsError` when `fetchOpts`
 * has a `method` other than `GET` or a `body` (use `fetchWithStream` to start a run), or a
 * `Last-Event-ID` header (use `offset`).
 *
 * @example
 * ```ts
 * // On page load: pick up the answer that was streaming before the reload.
 * const saved = JSON.parse(sessionStorage.getItem("chat") ?? "null");
 * if (saved !== null) {
 *   const response = await resumeStream(saved.resumeUrl, {
 *     offset: saved.offset,
 *     onData: ({ data, hashedStepId }) => appendPending(hashedStepId, String(data)),
 *     // Save the offset only where nothing is pending (PROTOCOL.md): an offset saved after an
 *     // uncommitted chunk would skip the rest of that attempt after the next reload.
 *     onCommit: ({ hashedStepId, offset }) => { commitPending(hashedStepId); if (nothingPending()) saved.offset = offset; },
 *     onRollback: ({ hashedStepId, offset }) => { dropPending(hashedStepId); if (nothingPending()) saved.offset = offset; },
 *   });
 *   showAnswer(await response.json());
 * }
 * ```
 */
export function resumeStream(resumeUrl: string | URL, options: ResumeStreamOptions = {}): Promise<Response> {
  return settleStream(options, () => {
    const fetchOpts: RequestInit = options.fetchOpts ?? {};
    const method = fetchOpts.method;
    if ((method !== undefined && method.toUpperCase() !== "GET") || (fetchOpts.body !== undefined && fetchOpts.body !== null)) {
      throw new InvalidOptionsError(
        `resumeStream reads a run that already exists with a GET, so fetchOpts.method (${String(method)}) and fetchOpts.body are not allowed. To start a run, use fetchWithStream.`,
      );
    }
    // `offset` was called `lastEventId` before: ignoring it would read the whole log again and
    // repeat every chunk the caller has, so it is refused with the new name.
    if ("lastEventId" in options) {
      throw new InvalidOptionsError("resumeStream: the lastEventId option is now called offset; pass { offset }.");
    }
    const offset = options.offset;
    if (offset !== undefined) checkOffset(offset);
    const headers = createRequestHeaders(fetchOpts.headers);
    if (headers.has("last-event-id")) {
      throw new InvalidOptionsError("resumeStream: pass the last offset you have as the offset option, not as a Last-Event-ID header.");
    }
    if (offset !== undefined) headers.set("last-event-id", offset);
    const url = String(resumeUrl);
    const cursor: StreamCursor = { runId: undefined, offset, resumeUrl: resolveUrl(url) };
    const init: RequestInit = { ...fetchOpts, method: "GET", headers };
    return streamConnections({ url, init, isEndpoint: false }, cursor, options);
  });
}

function checkOffset(offset: string): void {
  try {
    parseOffset(offset);
  } catch (cause) {
    if (!ProtocolError.isInstance(cause)) throw cause;
    throw new InvalidOptionsError(
      `resumeStream: offset must be the offset of the last frame you have (e.g. "1-42", the offset of an onData, onCommit or onRollback argument), got ${JSON.stringify(offset)}.`,
      { cause },
    );
  }
}
