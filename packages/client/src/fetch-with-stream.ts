import type { FetchWithStreamOptions } from "./fetch-with-stream-options.js";
import type { StreamCursor } from "./read-connection.js";
import { createRequestHeaders } from "./request-headers.js";
import { settleStream, streamConnections } from "./stream-connections.js";

export { DEFAULT_MAX_REDIRECTS } from "./stream-connections.js";

/**
 * Calls a Durastream endpoint and reads its stream: streamed chunks, commits and rollbacks reach
 * the callbacks in order, redirects to the wait endpoint are followed, dropped connections are
 * resumed (see `ReconnectOptions`), all without losing or repeating a frame, and the promise
 * resolves with the endpoint's final `Response`, rebuilt exactly (status, headers, body bytes;
 * a `content-encoding: gzip` or `deflate` body reads decoded, as `fetch` would give it).
 *
 * The request itself (e.g. a `POST` that starts a run) is sent once: a dropped connection is
 * resumed with a `GET` to the run's resume URL (from `onMetadata`), never by sending the request
 * again. When the server offers no resume URL, a dropped connection fails the stream. An endpoint
 * that answers with `303 See Other` to its wait URL works too: `fetch` follows it and the stream
 * it leads to is read.
 *
 * To resume after a page reload, persist the `resumeUrl` from `onMetadata` with the committed
 * output and the `offset` of an `onCommit` or `onRollback` after which no step has chunks pending
 * (never the offset of an `onData`: resuming after it would lose the step's earlier uncommitted
 * chunks, which are not sent again); then call `resumeStream(resumeUrl, { offset })`
 * and start from the saved committed output (see PROTOCOL.md, "Redirect and resume").
 * `createDurableStream` with `persistKey` does all this for you.
 *
 * A response that is not an SSE stream (a non-durable endpoint, an error page, a 4xx) is returned
 * as it came. The promise rejects with a `DurableClientError` when the stream fails (after
 * reconnecting gave up, and after `onStreamError`), with the signal's reason on abort, and with a
 * callback's own error when a callback throws. `onDone` always runs, once, last.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * let resumeUrl: string | null = null;
 * let committed = "";
 * const pending = new Map<HashedStepId, string>(); // each step's uncommitted text
 * // Saved only where no chunk is pending: a reload resumes after `offset`, and frames up to it are not sent again.
 * const settled = (offset: string) => {
 *   render(committed, [...pending.values()].join(""));
 *   if (pending.size === 0 && resumeUrl !== null) sessionStorage.setItem("chat", JSON.stringify({ resumeUrl, offset, committed }));
 * };
 * const response = await fetchWithStream("/api/chat", {
 *   fetchOpts: { method: "POST", body: JSON.stringify({ prompt: "Hi" }), signal: controller.signal },
 *   onMetadata: (metadata) => { resumeUrl = metadata.resumeUrl; },
 *   onData: ({ data, hashedStepId }) => {
 *     pending.set(hashedStepId, (pending.get(hashedStepId) ?? "") + String(data));
 *     render(committed, [...pending.values()].join(""));
 *   },
 *   onCommit: ({ hashedStepId, offset }) => { committed += pending.get(hashedStepId) ?? ""; pending.delete(hashedStepId); settled(offset); },
 *   onRollback: ({ hashedStepId, offset }) => { pending.delete(hashedStepId); settled(offset); },
 *   onReconnect: ({ attempt }) => showStatus(`Reconnecting (${attempt})…`),
 *   onStreamError: (error) => console.error(error.code, error.message),
 * });
 * const answer = await response.json();
 * ```
 */
export function fetchWithStream(url: string | URL, options: FetchWithStreamOptions = {}): Promise<Response> {
  return settleStream(options, () => {
    const fetchOpts = options.fetchOpts ?? {};
    const cursor: StreamCursor = { runId: undefined, offset: undefined, resumeUrl: undefined };
    const init: RequestInit = { ...fetchOpts, headers: createRequestHeaders(fetchOpts.headers) };
    return streamConnections({ url: String(url), init, isEndpoint: true }, cursor, options);
  });
}
