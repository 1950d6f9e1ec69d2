import { InvalidOptionsError } from "@durastream/protocol";
import { isAborted } from "./abort-signal.js";
import { DurableClientError } from "./errors.js";
import type { FetchFunction } from "./fetch-with-stream-options.js";
import { resolveUrl } from "./resolve-url.js";

/**
 * Options of `cancelRun`: a `RequestInit` for the `DELETE` (headers, credentials, `signal`; its
 * method is always `DELETE`), and the `fetch` to send it with.
 *
 * @example
 * ```ts
 * const init: CancelRunInit = { credentials: "include", signal: AbortSignal.timeout(10_000) };
 * ```
 */
export interface CancelRunInit extends Omit<RequestInit, "method" | "body"> {
  /** The `fetch` to send the request with. Defaults to `globalThis.fetch`. */
  fetch?: FetchFunction;
}

/**
 * Cancels a run at the server with its resume URL (`snapshot.resumeUrl`, `metadata.resumeUrl`,
 * the `x-durastream-resume-url` header of `uiMessageStreamHandler`): sends `DELETE <resumeUrl>` to
 * the wait endpoint, whose token authorises it as it does reads. The run ends for good: its
 * signal aborts on whichever instance executes it (a model stream stops), the step attempts in
 * flight are rolled back, nothing more is committed, and its result is a failure (status 500,
 * `RUN_CANCELLED`). Readers of the run get those rollbacks and that result, then nothing more.
 *
 * Resolves with `true` once the cancel is stored (`204`), `false` when the server answers `404`:
 * the run is over already (finished, or cancelled before: cancelling twice is harmless), unknown,
 * or the URL's token is wrong or expired (each answer the server hands out carries a fresh one:
 * use the latest URL). Rejects with a `DurableClientError`: `HTTP` (with `status`) for any other
 * answer (`503` while the store is unavailable or the instance shuts down: try again), `NETWORK`
 * when the request failed; with the signal's reason when `init.signal` aborted it.
 *
 * Reading the run's stream is not affected: abort your own reader when you no longer want it
 * (`createDurableStream`'s `cancel()` does both).
 *
 * @example
 * ```ts
 * // A stop button for a stock `useChat`: stop reading, and cancel the run at the server.
 * async function stop() {
 *   chat.stop();
 *   if (resumeUrl !== null) await cancelRun(resumeUrl);
 * }
 * ```
 */
export async function cancelRun(resumeUrl: string | URL, init: CancelRunInit = {}): Promise<boolean> {
  if (typeof resumeUrl !== "string" && !(resumeUrl instanceof URL)) {
    throw new InvalidOptionsError(`cancelRun(resumeUrl) needs the run's resume URL (a string or URL), got ${String(resumeUrl)}.`);
  }
  const { fetch: fetchFunction = globalThis.fetch, ...requestInit } = init;
  const url = resolveUrl(String(resumeUrl));
  let response: Response;
  try {
    response = await fetchFunction(url, { ...requestInit, method: "DELETE" });
  } catch (error) {
    if (isAborted(requestInit.signal ?? undefined)) throw requestInit.signal?.reason;
    throw new DurableClientError("NETWORK", `Cancelling the run at ${url} failed: the request did not get through. Check the network connection and retry.`, {
      cause: error,
      url,
    });
  }
  await response.body?.cancel().catch(() => {});
  if (response.ok) return true;
  if (response.status === 404) return false;
  throw new DurableClientError(
    "HTTP",
    `Cancelling the run at ${url} failed with HTTP ${response.status}${response.status === 405 ? ": mount the wait endpoint for DELETE requests too" : ""}.`,
    { status: response.status, url },
  );
}
