import { responseFromSnapshot, type ResultFrame } from "@durastream/protocol";
import { isAborted } from "./abort-signal.js";
import { CallbackFailure, invokeCallback } from "./callback-failure.js";
import { DurableClientError } from "./errors.js";
import { isEventStreamResponse } from "./event-stream-media-type.js";
import type { FetchFunction, FetchWithStreamOptions } from "./fetch-with-stream-options.js";
import { readConnection, type StreamCursor } from "./read-connection.js";
import { createRequestHeaders, createResumeHeaders } from "./request-headers.js";
import { resolveUrl } from "./resolve-url.js";

/**
 * How many redirect frames `fetchWithStream` follows unless `maxRedirects` says otherwise.
 *
 * @example
 * ```ts
 * // A run that sleeps many times in a row may need more:
 * await fetchWithStream("/api/digest", { maxRedirects: DEFAULT_MAX_REDIRECTS * 5 });
 * ```
 */
export const DEFAULT_MAX_REDIRECTS = 20;

const defaultFetch: FetchFunction = (input, init) => globalThis.fetch(input, init);

/**
 * Calls a Durastream endpoint and reads its stream: streamed chunks, commits and rollbacks reach
 * the callbacks in order, redirects to the wait endpoint are followed without losing or repeating
 * a frame, and the promise resolves with the endpoint's final `Response`, rebuilt exactly (status,
 * headers, body bytes).
 *
 * A response that is not an SSE stream (a non-durable endpoint, an error page, a 4xx) is returned
 * as it came. The promise rejects with a `DurableClientError` when the stream fails (after
 * `onStreamError`), with the signal's reason on abort, and with a callback's own error when a
 * callback throws. `onDone` always runs, once, last.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * let text = "";
 * const response = await fetchWithStream("/api/chat", {
 *   fetchOpts: { method: "POST", body: JSON.stringify({ prompt: "Hi" }), signal: controller.signal },
 *   onData: ({ data }) => { text += String(data); render(text); },
 *   onRollback: () => { text = ""; render(text); },
 *   onStreamError: (error) => console.error(error.code, error.message),
 * });
 * const answer = await response.json();
 * ```
 */
export async function fetchWithStream(url: string | URL, options: FetchWithStreamOptions = {}): Promise<Response> {
  let response: Response | undefined;
  let failure: { readonly error: unknown } | undefined;
  try {
    response = await streamConnections(String(url), options);
  } catch (error) {
    failure = { error: settle(error, options) };
  }
  try {
    options.onDone?.();
  } catch (error) {
    // Surface an onDone failure, but never let it hide the error the stream already failed with.
    failure ??= { error };
  }
  if (failure !== undefined) throw failure.error;
  return response as Response;
}

/**
 * One loop over connections, carrying the stream cursor (run id and last offset) from one to the
 * next. Redirect frames start the next connection; reconnecting after a dropped connection fits
 * here as another way to start one.
 */
async function streamConnections(url: string, options: FetchWithStreamOptions): Promise<Response> {
  const fetchFunction = options.fetch ?? defaultFetch;
  const fetchOpts = options.fetchOpts ?? {};
  const signal = fetchOpts.signal ?? undefined;
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  if (!Number.isInteger(maxRedirects) || maxRedirects < 0) {
    throw new RangeError(`fetchWithStream: maxRedirects must be a whole number >= 0, got ${String(maxRedirects)}.`);
  }
  const cursor: StreamCursor = { runId: undefined, lastOffset: undefined };

  let requestUrl = url;
  let init: RequestInit = { ...fetchOpts, headers: createRequestHeaders(fetchOpts.headers) };
  let isFirstConnection = true;
  let redirects = 0;
  for (;;) {
    const response = await openConnection(fetchFunction, requestUrl, init, signal);
    const connectionUrl = response.url !== "" ? response.url : resolveUrl(requestUrl);
    if (!response.ok || !isEventStreamResponse(response)) {
      // The endpoint's own answer (not durable, or failed before streaming): hand it over untouched.
      if (isFirstConnection) return response;
      void response.body?.cancel().catch(() => {});
      throw new DurableClientError(
        "HTTP",
        `The stream continues at ${connectionUrl}, which answered HTTP ${response.status} with ${response.headers.get("content-type") ?? "no content type"} instead of a text/event-stream. Check that the wait endpoint (durable.proxy()) is mounted at that URL.`,
        { status: response.status, url: connectionUrl },
      );
    }
    isFirstConnection = false;

    const end = await readConnection(response, connectionUrl, cursor, options, signal);
    if (end.type === "result") return rebuildResponse(end.frame, connectionUrl);

    if (redirects >= maxRedirects) {
      throw new DurableClientError(
        "TOO_MANY_REDIRECTS",
        `The stream was redirected more than ${maxRedirects} times (last to ${end.frame.url}). Check the server for a redirect loop, or raise maxRedirects.`,
        { url: connectionUrl },
      );
    }
    redirects += 1;
    requestUrl = resolveUrl(end.frame.url, connectionUrl);
    invokeCallback(options.onRedirect, { url: requestUrl, reason: end.frame.reason });
    init = {
      method: "GET",
      headers: createResumeHeaders(cursor.lastOffset),
      ...(signal === undefined ? {} : { signal }),
      ...(fetchOpts.credentials === undefined ? {} : { credentials: fetchOpts.credentials }),
    };
  }
}

async function openConnection(
  fetchFunction: FetchFunction,
  url: string,
  init: RequestInit,
  signal: AbortSignal | undefined,
): Promise<Response> {
  if (isAborted(signal)) throw signal?.reason;
  let response: Response;
  try {
    response = await fetchFunction(url, init);
  } catch (cause) {
    if (isAborted(signal)) throw signal?.reason;
    throw new DurableClientError(
      "NETWORK",
      `Could not reach ${url}. Check the network connection and the URL, then retry.`,
      { cause, url },
    );
  }
  if (isAborted(signal)) {
    void response.body?.cancel(signal?.reason).catch(() => {});
    throw signal?.reason;
  }
  return response;
}

function rebuildResponse(frame: ResultFrame, url: string): Response {
  try {
    return responseFromSnapshot(frame.response);
  } catch (cause) {
    throw new DurableClientError(
      "PROTOCOL",
      `The result frame from ${url} describes a response that cannot be rebuilt (${String(cause)}). Upgrade client and server packages together.`,
      { cause, url },
    );
  }
}

/** Decides what `fetchWithStream` rejects with, and reports stream errors through `onStreamError`. */
function settle(error: unknown, options: FetchWithStreamOptions): unknown {
  if (error instanceof CallbackFailure) return error.error;
  const signal = options.fetchOpts?.signal ?? undefined;
  if (isAborted(signal) && error === signal?.reason) return error;
  if (DurableClientError.isInstance(error)) {
    try {
      invokeCallback(options.onStreamError, error);
    } catch (failure) {
      return failure instanceof CallbackFailure ? failure.error : failure;
    }
  }
  return error;
}
