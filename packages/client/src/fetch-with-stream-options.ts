import type { HashedStepId, ProtocolError, RedirectReason, WireError } from "@durastream/protocol";
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
 * @example
 * ```ts
 * const onMetadata = ({ runId, resumeUrl }: StreamMetadata) => {
 *   if (resumeUrl !== null) sessionStorage.setItem(`resume:${runId}`, resumeUrl);
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
   * connection that sent it; `null` when the server offers none.
   */
  readonly resumeUrl: string | null;
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
  /** The frame's position in the run's log. */
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
  /** The frame's position in the run's log. */
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
  /** The frame's position in the run's log. */
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
}

/**
 * Options of `fetchWithStream`. Callbacks are called synchronously, in stream order; what they
 * return is ignored. If one throws, reading stops and `fetchWithStream` rejects with that error.
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
   * including on redirected connections, which also reuse `credentials`.
   */
  fetchOpts?: RequestInit;
  /** How many redirect frames to follow before failing with `TOO_MANY_REDIRECTS`. Defaults to 20. */
  maxRedirects?: number;
  /** Called with the run's metadata before any other frame; again only if a connection names a different run. */
  onMetadata?: (metadata: StreamMetadata) => void;
  /** Called for each streamed chunk. Consider it uncommitted until `onCommit` for its step. */
  onData?: (chunk: StreamChunk) => void;
  /** Called when a step's chunks become final. */
  onCommit?: (commit: StepCommit) => void;
  /** Called when a step attempt fails; discard that step's uncommitted chunks. */
  onRollback?: (rollback: StepRollback) => void;
  /** Called before following a redirect frame to its URL. */
  onRedirect?: (redirect: StreamRedirect) => void;
  /**
   * Called once with the typed error when the stream fails (network, protocol, premature end, …),
   * just before `fetchWithStream` rejects with it. Not called for aborts or for errors thrown by
   * your own callbacks.
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
