import { InvalidOptionsError, responseFromSnapshot, type ResultFrame } from "@durastream/protocol";
import { isAborted } from "./abort-signal.js";
import { waitFor } from "./abortable-wait.js";
import { CallbackFailure, invokeCallback } from "./callback-failure.js";
import { DurableClientError } from "./errors.js";
import { isEventStreamResponse } from "./event-stream-media-type.js";
import type { FetchFunction, FetchWithStreamOptions } from "./fetch-with-stream-options.js";
import { positionOf, readConnection, type ConnectionEnd, type StreamCursor } from "./read-connection.js";
import { createReconnectPolicy, isReconnectable } from "./reconnect-policy.js";
import { createResumeHeaders } from "./request-headers.js";
import { resolveUrl } from "./resolve-url.js";

/**
 * How many redirect frames `fetchWithStream` follows unless `maxRedirects` says otherwise.
 */
export const DEFAULT_MAX_REDIRECTS = 20;

const defaultFetch: FetchFunction = (input, init) => globalThis.fetch(input, init);

/**
 * The request that opens a stream, and what it means when it is answered with something other
 * than a stream. Internal.
 */
export interface FirstRequest {
  readonly url: string;
  readonly init: RequestInit;
  /**
   * True for a call to the endpoint itself (`fetchWithStream`): an answer that is not a stream is
   * the endpoint's own response, handed over as it came. False for a resume URL (`resumeStream`):
   * such an answer is an `HTTP` error, and the first request may be retried like any reconnect.
   */
  readonly isEndpoint: boolean;
}

/**
 * Runs `stream` the way `fetchWithStream` and `resumeStream` promise: a `DurableClientError` goes
 * to `onStreamError` first, a callback's error and the signal's reason are rejected with
 * unchanged, and `onDone` runs exactly once, last.
 */
export async function settleStream(options: FetchWithStreamOptions, stream: () => Promise<Response>): Promise<Response> {
  let response: Response | undefined;
  let failure: { readonly error: unknown } | undefined;
  try {
    response = await stream();
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
 * The one loop over connections behind `fetchWithStream` and `resumeStream`, carrying the cursor
 * (run id, last offset, resume URL) from one connection to the next. A connection ends with the
 * result (done), with a redirect frame (the next connection goes to its URL), or fails: then,
 * when the failure is one a reconnect may cure and the cursor has a resume URL, it waits (backoff
 * with jitter) and reconnects there with `Last-Event-ID`. The first request is never sent again.
 */
export async function streamConnections(first: FirstRequest, cursor: StreamCursor, options: FetchWithStreamOptions): Promise<Response> {
  const fetchFunction = options.fetch ?? defaultFetch;
  const fetchOpts = options.fetchOpts ?? {};
  const signal = fetchOpts.signal ?? undefined;
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  if (!Number.isInteger(maxRedirects) || maxRedirects < 0) {
    throw new InvalidOptionsError(`maxRedirects must be a whole number >= 0, got ${String(maxRedirects)}.`);
  }
  const reconnect = createReconnectPolicy(options.reconnect, first.isEndpoint ? "fetchWithStream" : "resumeStream");
  // What every connection after the first sends: a GET with the stream's position.
  const continuation = (): RequestInit => ({
    method: "GET",
    headers: createResumeHeaders(cursor.offset),
    ...(signal === undefined ? {} : { signal }),
    ...(fetchOpts.credentials === undefined ? {} : { credentials: fetchOpts.credentials }),
  });

  let requestUrl = first.url;
  let init = first.init;
  let isFirst = true;
  let isReconnect = false;
  let redirects = 0;
  let failures = 0;
  for (;;) {
    const runBefore = cursor.runId;
    const offsetBefore = cursor.offset;
    let end: ConnectionOutcome;
    try {
      end = await connect(fetchFunction, requestUrl, init, isFirst && first.isEndpoint, cursor, options, signal, isReconnect);
    } catch (error) {
      if (isAborted(signal) || reconnect === undefined || !isReconnectable(error)) throw error;
      const resumeUrl = cursor.resumeUrl;
      if (resumeUrl === undefined) throw error;
      // A connection that delivered new frames made progress: count attempts from 1 again.
      if (cursor.offset !== offsetBefore || cursor.runId !== runBefore) failures = 0;
      failures += 1;
      if (failures > reconnect.retries) throw error;
      const delay = reconnect.delayFor(failures);
      invokeCallback(options.onReconnect, {
        attempt: failures,
        delay,
        error,
        url: resumeUrl,
        offset: cursor.offset ?? null,
      });
      await waitFor(delay, signal);
      requestUrl = resumeUrl;
      init = continuation();
      isFirst = false;
      isReconnect = true;
      continue;
    }
    if (end.type === "response") return end.response;
    if (end.type === "result") return rebuildResponse(end.frame, end.connectionUrl, cursor);

    failures = 0;
    // Redirects in a row without progress mean a loop; a long run redirected now and then (e.g. on a
    // host's connection time limit) makes progress between redirects and is not capped.
    if (cursor.offset !== offsetBefore || cursor.runId !== runBefore) redirects = 0;
    if (redirects >= maxRedirects) {
      throw new DurableClientError(
        "TOO_MANY_REDIRECTS",
        `The stream was redirected more than ${maxRedirects} times in a row without new frames (last to ${end.frame.url}). Check the server for a redirect loop, or raise maxRedirects.`,
        { url: end.connectionUrl, ...positionOf(cursor) },
      );
    }
    redirects += 1;
    requestUrl = resolveUrl(end.frame.url, end.connectionUrl);
    invokeCallback(options.onRedirect, { url: requestUrl, reason: end.frame.reason, offset: cursor.offset ?? null });
    init = continuation();
    isFirst = false;
    isReconnect = false;
  }
}

/** How one connection ended: the endpoint's own response, or the end of its stream and its URL. */
type ConnectionOutcome = { readonly type: "response"; readonly response: Response } | (ConnectionEnd & { readonly connectionUrl: string });

/**
 * Opens one connection and reads it to its end. Returns the response itself when the endpoint
 * answered the first request without a stream (`passThrough`).
 */
async function connect(
  fetchFunction: FetchFunction,
  url: string,
  init: RequestInit,
  passThrough: boolean,
  cursor: StreamCursor,
  options: FetchWithStreamOptions,
  signal: AbortSignal | undefined,
  sameRun: boolean,
): Promise<ConnectionOutcome> {
  const response = await openConnection(fetchFunction, url, init, signal, cursor);
  // After HTTP redirects (a 303 to the wait URL), relative URLs in the stream resolve against the final URL.
  const connectionUrl = response.url !== "" ? response.url : resolveUrl(url);
  if (!response.ok || !isEventStreamResponse(response)) {
    // The endpoint's own answer (not durable, or failed before streaming): hand it over untouched.
    if (passThrough) return { type: "response", response };
    void response.body?.cancel().catch(() => {});
    throw httpError(response, connectionUrl, cursor);
  }
  const end = await readConnection(response, connectionUrl, cursor, options, signal, sameRun);
  return { ...end, connectionUrl };
}

async function openConnection(
  fetchFunction: FetchFunction,
  url: string,
  init: RequestInit,
  signal: AbortSignal | undefined,
  cursor: StreamCursor,
): Promise<Response> {
  if (isAborted(signal)) throw signal?.reason;
  let response: Response;
  try {
    response = await fetchFunction(url, init);
  } catch (cause) {
    if (isAborted(signal)) throw signal?.reason;
    throw new DurableClientError("NETWORK", `Could not reach ${url}. Check the network connection and the URL, then retry.`, {
      cause,
      url,
      ...positionOf(cursor),
    });
  }
  if (isAborted(signal)) {
    void response.body?.cancel(signal?.reason).catch(() => {});
    throw signal?.reason;
  }
  return response;
}

function httpError(response: Response, url: string, cursor: StreamCursor): DurableClientError {
  const { status } = response;
  const advice =
    status === 404
      ? "The run is unknown there, or its resume token is wrong or has expired: start the run again with fetchWithStream, and check that the wait endpoint (durable.waitEndpoint()) is mounted at that URL."
      : status >= 500 || status === 429
        ? "The wait endpoint is failing or overloaded; try again later."
        : "Check that the wait endpoint (durable.waitEndpoint()) is mounted at that URL.";
  return new DurableClientError(
    "HTTP",
    `The stream continues at ${url}, which answered HTTP ${status} with ${response.headers.get("content-type") ?? "no content type"} instead of a text/event-stream. ${advice}`,
    { status, url, ...positionOf(cursor) },
  );
}

function rebuildResponse(frame: ResultFrame, url: string, cursor: StreamCursor): Response {
  try {
    return responseFromSnapshot(frame.response);
  } catch (cause) {
    throw new DurableClientError(
      "PROTOCOL",
      `The result frame from ${url} describes a response that cannot be rebuilt (${String(cause)}). Upgrade client and server packages together.`,
      { cause, url, ...positionOf(cursor) },
    );
  }
}

/** Decides what the stream rejects with, and reports stream errors through `onStreamError`. */
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
