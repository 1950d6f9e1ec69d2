import type { BackoffOptions, HashedStepId, ProtocolError, RedirectReason, ResponseSnapshot, WireError } from "@durastream/protocol";
import type { DurableClientError } from "./errors.js";

/**
 * The `fetch` that `fetchWithStream` calls for every connection. Any `fetch`-compatible function
 * fits, e.g. one that adds auth headers or records requests in tests.
 *
 * @example
 * ```ts
 * const fetchWithAuth: FetchFunction = (input, init) => {
 *   const headers = new Headers(init?.headers);
 *   headers.set("authorization", `Bearer ${token}`);
 *   return fetch(input, { ...init, headers });
 * };
 * ```
 */
export type FetchFunction = (input: string, init?: RequestInit) => Promise<Response>;

/**
 * The run a stream belongs to, from the metadata frame that starts every connection.
 *
 * To pick a run up again after a page reload (or in a second tab), persist `resumeUrl` from here
 * together with the `offset` of the last frame you applied (every `onData`, `onCommit` and
 * `onRollback` argument has it), and call `resumeStream(resumeUrl, { offset })`.
 *
 * @example
 * ```ts
 * const onMetadata = ({ runId, resumeUrl }: StreamMetadata) => {
 *   if (resumeUrl !== null) sessionStorage.setItem("resume", JSON.stringify({ runId, resumeUrl }));
 * };
 * ```
 */
export interface StreamMetadata {
  /** The run's id (a ULID). */
  readonly runId: string;
  /** The wire protocol version the server speaks. */
  readonly protocolVersion: number;
  /**
   * Where to read this run's log again (e.g. after a page reload), resolved against the URL of the
   * connection that sent it; `null` when the server offers none. For `resumeStream`, the URL you
   * passed when the server names none.
   */
  readonly resumeUrl: string | null;
  /**
   * The offset of the last log frame of this run already delivered (or given to `resumeStream` as
   * `offset`); `null` when none was. Frames up to it are not delivered again.
   */
  readonly offset: string | null;
}

/**
 * One streamed chunk. Uncommitted until a `StepCommit` for the same `hashedStepId` arrives; a
 * `StepRollback` for that step means: discard its uncommitted chunks.
 *
 * @example
 * ```ts
 * const onData = ({ data, hashedStepId }: StreamChunk) => {
 *   pending.set(hashedStepId, [...(pending.get(hashedStepId) ?? []), data]);
 * };
 * ```
 */
export interface StreamChunk {
  /** The chunk, as the server's `stream.push` / `stream.pipe` produced it (parsed JSON). */
  readonly data: unknown;
  /** The step that streamed it, or `null` for output streamed outside any step. */
  readonly hashedStepId: HashedStepId;
  /**
   * The frame's position in the run's log. The offset of the last frame you applied and the run's
   * `resumeUrl` are what to persist to resume after a reload: `resumeStream(resumeUrl, { offset })`.
   */
  readonly offset: string;
}

/**
 * A step's output is persisted: every chunk it streamed so far is final.
 *
 * @example
 * ```ts
 * const onCommit = ({ hashedStepId }: StepCommit) => {
 *   committed.push(...(pending.get(hashedStepId) ?? []));
 *   pending.delete(hashedStepId);
 * };
 * ```
 */
export interface StepCommit {
  /** The step that committed, or `null` for the chunks streamed outside any step. */
  readonly hashedStepId: HashedStepId;
  /**
   * The frame's position in the run's log. The offset of the last frame you applied and the run's
   * `resumeUrl` are what to persist to resume after a reload: `resumeStream(resumeUrl, { offset })`.
   */
  readonly offset: string;
}

/**
 * A step attempt failed: discard the step's uncommitted chunks.
 *
 * @example
 * ```ts
 * const onRollback = ({ hashedStepId, willRetry, error }: StepRollback) => {
 *   pending.delete(hashedStepId);
 *   if (!willRetry) console.warn(`Step failed for good: ${error.message}`);
 * };
 * ```
 */
export interface StepRollback {
  /** The step whose attempt failed. */
  readonly hashedStepId: HashedStepId;
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  /** Whether the step will be attempted again. */
  readonly willRetry: boolean;
  /** Name and message of the error the attempt threw. */
  readonly error: WireError;
  /**
   * The frame's position in the run's log. The offset of the last frame you applied and the run's
   * `resumeUrl` are what to persist to resume after a reload: `resumeStream(resumeUrl, { offset })`.
   */
  readonly offset: string;
}

/**
 * The run is over: its outcome and final response, from the result frame that ends the log.
 * `fetchWithStream` resolves with the response rebuilt from `response`; this tells, in addition,
 * whether the run succeeded or the handler threw (`failed`, with a `500` response), which the
 * status code alone cannot (a handler may return a `500` itself).
 *
 * @example
 * ```ts
 * const onResult = ({ status, offset }: StreamResult) => {
 *   if (status === "failed") showError(`The run failed (at ${offset}).`);
 * };
 * ```
 */
export interface StreamResult {
  /** `succeeded`, or `failed` when the handler threw. */
  readonly status: "succeeded" | "failed";
  /** The handler's final response, captured exactly, body still content-encoded if it was (see `responseFromSnapshot`). */
  readonly response: ResponseSnapshot;
  /** The result frame's position in the run's log. */
  readonly offset: string;
}

/**
 * The server ended a connection and sent the client on to `url` (for example while the run sleeps
 * or waits to retry a step). `fetchWithStream` follows it by itself; this is for showing progress.
 *
 * @example
 * ```ts
 * const onRedirect = ({ reason }: StreamRedirect) => {
 *   if (reason === "retry") setStatus("Retrying…");
 * };
 * ```
 */
export interface StreamRedirect {
  /** The absolute URL the stream continues at. */
  readonly url: string;
  /** Why the server redirected. */
  readonly reason: RedirectReason;
  /** The offset of the last log frame delivered, sent on as `Last-Event-ID`; `null` when none was. */
  readonly offset: string | null;
}

/**
 * A connection failed and the client is about to reconnect to the run's resume URL, after `delay`
 * milliseconds. `fetchWithStream` and `resumeStream` reconnect by themselves; this is for showing
 * progress ("Reconnecting…").
 *
 * @example
 * ```ts
 * const onReconnect = ({ attempt, delay, error }: ReconnectAttempt) => {
 *   setStatus(`Connection lost (${error.code}); retry ${attempt} in ${Math.round(delay / 1000)} s…`);
 * };
 * ```
 */
export interface ReconnectAttempt {
  /** Which reconnect attempt this is, from 1; back to 1 once a connection delivers new frames. */
  readonly attempt: number;
  /** How long the client waits before this attempt, in milliseconds. */
  readonly delay: number;
  /** Why the previous connection failed (`NETWORK`, `STREAM_ENDED`, or `HTTP` with a 5xx or 429 status). */
  readonly error: DurableClientError;
  /** The resume URL the client reconnects to. */
  readonly url: string;
  /** The offset of the last log frame delivered, sent as `Last-Event-ID`; `null` when none was. */
  readonly offset: string | null;
}

/**
 * How `fetchWithStream` and `resumeStream` reconnect when a connection fails: the request cannot
 * reach the server, the body stops with an error, the stream ends before the run's result, or the
 * wait endpoint answers 5xx or 429. They reconnect with a `GET` to the resume URL of the latest
 * metadata frame, sending the last offset received as `Last-Event-ID`, so no frame is lost or
 * repeated, and the request that started the run is never sent twice. Without a resume URL (the
 * server offers none) a failed connection fails the stream at once.
 *
 * The wait before attempt `n` is the server's backoff (`BackoffOptions`, the same fields as
 * `createDurable({ backoff })`): `min(maxDelay, initialDelay * factor ** (n - 1))`, spread at random
 * by `±jitter` of itself, in whole milliseconds. Attempts count consecutive failures: they start
 * again from 1 once a connection delivers a new frame. `{ initialDelay: 0 }` reconnects at once
 * (e.g. in tests).
 *
 * @example
 * ```ts
 * await fetchWithStream("/api/chat", {
 *   fetchOpts: { method: "POST", body },
 *   reconnect: { retries: 20, initialDelay: 500, maxDelay: 30_000 },
 * });
 * ```
 */
export interface ReconnectOptions extends BackoffOptions {
  /** How many reconnect attempts to make in a row before giving up with the last error. Defaults to 8; `Infinity` never gives up. */
  retries?: number;
  /** The wait before the first attempt, in milliseconds. Defaults to 250. */
  initialDelay?: number;
  /** Each further attempt multiplies the wait by this (1 to 100). Defaults to 2. */
  factor?: number;
  /** The longest wait between attempts before jitter, in milliseconds. Defaults to 10000. */
  maxDelay?: number;
  /** The fraction of each wait added or taken away at random (0 to 1). Defaults to 0.5: waits fall in `[wait / 2, wait * 1.5]`. */
  jitter?: number;
}

/**
 * Options of `fetchWithStream`. Callbacks are called synchronously, in stream order; what they
 * return is ignored. If one throws, reading stops and `fetchWithStream` rejects with that error.
 * Across redirects and reconnects the frame callbacks see one continuous sequence: nothing lost,
 * nothing repeated.
 *
 * @example
 * ```ts
 * const options: FetchWithStreamOptions = {
 *   fetchOpts: { method: "POST", body: JSON.stringify({ prompt }), signal: controller.signal },
 *   onData: ({ data }) => appendToken(String(data)),
 *   onRollback: ({ hashedStepId }) => dropUncommitted(hashedStepId),
 *   onStreamError: (error) => showError(error.message),
 * };
 * ```
 */
export interface FetchWithStreamOptions {
  /** The `fetch` to use for every connection, including redirects. Defaults to `globalThis.fetch`. */
  fetch?: FetchFunction;
  /**
   * Options of the first request (method, body, headers, credentials, `signal`, …). Its headers
   * always gain `Accept: text/event-stream`. Aborting `signal` stops the stream at any point,
   * including on redirected and reconnected connections and while waiting to reconnect; those
   * connections are `GET`s that reuse `credentials`, but not the other options.
   */
  fetchOpts?: RequestInit;
  /** How many redirect frames in a row, without new frames between them, to follow before failing with `TOO_MANY_REDIRECTS`. Defaults to 20. */
  maxRedirects?: number;
  /**
   * How to reconnect when a connection fails (see `ReconnectOptions`); `false` fails the stream
   * at the first failed connection. Defaults to `{}`: 8 attempts, from 250 ms (doubling, ±50 %) up
   * to 10 s apart.
   */
  reconnect?: false | ReconnectOptions;
  /**
   * Called with the run's metadata before any other frame; again only if a connection names a
   * different run (after a redirect; on a reconnect that is a `PROTOCOL` error).
   */
  onMetadata?: (metadata: StreamMetadata) => void;
  /** Called for each streamed chunk. Consider it uncommitted until `onCommit` for its step. */
  onData?: (chunk: StreamChunk) => void;
  /** Called when a step's chunks become final. */
  onCommit?: (commit: StepCommit) => void;
  /** Called when a step attempt fails; discard that step's uncommitted chunks. */
  onRollback?: (rollback: StepRollback) => void;
  /** Called with the run's result frame, after every other frame and before the promise resolves. */
  onResult?: (result: StreamResult) => void;
  /** Called before following a redirect frame to its URL. */
  onRedirect?: (redirect: StreamRedirect) => void;
  /** Called when a connection failed, before waiting to reconnect to the resume URL. */
  onReconnect?: (attempt: ReconnectAttempt) => void;
  /**
   * Called once with the typed error when the stream fails (network, protocol, premature end, …,
   * after reconnecting gave up), just before the promise rejects with it. The error's `resumeUrl`
   * and `offset` say where to resume later. Not called for aborts or for errors thrown by your
   * own callbacks.
   */
  onStreamError?: (error: DurableClientError) => void;
  /**
   * Called for problems that do not stop the stream: an unknown frame type from a newer server or
   * an SSE field this protocol does not use.
   */
  onWarning?: (warning: ProtocolError) => void;
  /** Called exactly once, after everything else: on success, error or abort. */
  onDone?: () => void;
}

/**
 * Options of `resumeStream`: those of `fetchWithStream`, except that the request is always a `GET`
 * (no `method` other than `GET`, no `body`), plus `offset`.
 *
 * @example
 * ```ts
 * const saved = JSON.parse(localStorage.getItem("chat-run") ?? "null");
 * const options: ResumeStreamOptions = {
 *   offset: saved?.offset,
 *   fetchOpts: { signal: controller.signal },
 *   onData: ({ data, offset }) => { appendToken(String(data)); saved.offset = offset; },
 * };
 * ```
 */
export interface ResumeStreamOptions extends Omit<FetchWithStreamOptions, "fetchOpts"> {
  /**
   * Options of the first request (headers, credentials, `signal`, …). Its headers always gain
   * `Accept: text/event-stream`, and `Last-Event-ID` when `offset` is given.
   */
  fetchOpts?: Omit<RequestInit, "method" | "body">;
  /**
   * The offset of the last frame you already have (the `offset` of the last `onData`, `onCommit`
   * or `onRollback` you applied). It is sent as `Last-Event-ID`, and frames at or before it are not
   * delivered again. Leave it out to read the run's whole log, e.g. after losing all state.
   */
  offset?: string;
}
