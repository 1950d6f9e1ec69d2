import type { HashedStepId } from "@durastream/protocol";
import type { CancelRunInit } from "./cancel-run.js";
import type { ChunkList } from "./chunk-list.js";
import type { FetchFunction, FetchWithStreamOptions } from "./fetch-with-stream-options.js";

/**
 * Where a `DurableStream` is:
 *
 * - `idle`: nothing started yet (or after `reset()`);
 * - `connecting`: the request is on its way, no frame arrived yet;
 * - `streaming`: frames flow;
 * - `waiting`: the server redirected to its wait endpoint (the run sleeps, waits for an event or
 *   for a long retry); back to `streaming` at the next log frame;
 * - `reconnecting`: a connection dropped; reconnecting to the resume URL with `Last-Event-ID`;
 * - `succeeded` / `failed`: the run's result arrived (a `failed` result: the handler threw), or the
 *   stream failed for good (then `error` is the `DurableClientError`);
 * - `aborted`: `abort()` stopped the connection (the run goes on on the server).
 *
 * The first four have a run in progress: test for them with `isActiveStatus(status)`.
 *
 * @example
 * ```ts
 * const { status } = stream.getSnapshot();
 * const label = status === "waiting" ? "Working in the background…" : isActiveStatus(status) ? "Streaming…" : "Ready.";
 * ```
 */
export type DurableStreamStatus = "idle" | "connecting" | "streaming" | "waiting" | "reconnecting" | "succeeded" | "failed" | "aborted";

/**
 * The uncommitted chunks of one step: shown (e.g. dimmed) while streaming, gone again on a
 * rollback, moved to `committed` on the step's commit.
 *
 * @example
 * ```ts
 * for (const step of snapshot.uncommitted) console.log(step.hashedStepId, step.chunks.length, step.text);
 * ```
 */
export interface UncommittedStep<T> {
  /** The step that streamed the chunks; `null` for chunks streamed outside any step. */
  readonly hashedStepId: HashedStepId;
  /** The step's uncommitted chunks, in arrival order. */
  readonly chunks: ChunkList<T>;
  /** The step's string chunks, concatenated (other chunks are left out). */
  readonly text: string;
}

/**
 * The run's final response, as the endpoint returned it.
 *
 * @example
 * ```ts
 * const { result } = stream.getSnapshot();
 * if (result !== null && result.status === 200) showAnswer(result.body);
 * ```
 */
export interface DurableStreamResult<R> {
  readonly status: number;
  readonly statusText: string;
  /** Every header, in order, repeats kept (two cookies are two pairs). */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** Parsed JSON when the content type is JSON, else the text. */
  readonly body: R;
}

/**
 * Everything a UI shows about a durable stream, at one moment. Immutable: a snapshot (and its
 * lists) never changes after it was taken; `getSnapshot()` returns the same object until something
 * changed.
 *
 * @example
 * ```ts
 * const { status, committedText, uncommittedText, error } = stream.getSnapshot();
 * render(`${committedText}<span class="dim">${uncommittedText}</span>`);
 * ```
 */
export interface DurableStreamSnapshot<T = unknown, R = unknown> {
  readonly status: DurableStreamStatus;
  /** The run's id, once its metadata arrived (or from the persisted run being resumed). */
  readonly runId: string | null;
  /** Where the run can be read again (e.g. after a reload), once the server named it. */
  readonly resumeUrl: string | null;
  /** The offset of the last log frame applied (an SSE event id); `null` before the first one. */
  readonly offset: string | null;
  /** The final chunks, in the run's committed order. */
  readonly committed: ChunkList<T>;
  /** Steps with uncommitted chunks, ordered by their first uncommitted chunk. */
  readonly uncommitted: ReadonlyArray<UncommittedStep<T>>;
  /** The string chunks of `committed`, concatenated. */
  readonly committedText: string;
  /** The string chunks of `uncommitted`, in the order of `uncommitted`, concatenated. */
  readonly uncommittedText: string;
  /** The run's final response, once it arrived. */
  readonly result: DurableStreamResult<R> | null;
  /** Why the stream failed (a `DurableClientError`), or the abort reason; otherwise `null`. */
  readonly error: Error | null;
}

/**
 * Where a `DurableStream` persists its run (the `Storage` interface of `sessionStorage` and
 * `localStorage` fits).
 *
 * @example
 * ```ts
 * const memory = new Map<string, string>();
 * const storage: DurableStreamStorage = {
 *   getItem: (key) => memory.get(key) ?? null,
 *   setItem: (key, value) => void memory.set(key, value),
 *   removeItem: (key) => void memory.delete(key),
 * };
 * ```
 */
export interface DurableStreamStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Options of `createDurableStream`.
 *
 * @example
 * ```ts
 * const options: DurableStreamOptions = {
 *   url: "/api/chat",
 *   fetchOpts: { method: "POST", headers: { "content-type": "application/json" } },
 *   persistKey: "chat-answer",
 * };
 * ```
 */
export interface DurableStreamOptions {
  /** The durable endpoint that `start()` calls. */
  url: string | URL;
  /** The `fetch` for every connection. Defaults to `globalThis.fetch`. */
  fetch?: FetchFunction;
  /**
   * Default request init for `start()` (method, headers, body, credentials, …). `resume()` reuses
   * its headers and credentials (not method, body or signal). Aborting its `signal` aborts the stream.
   */
  fetchOpts?: RequestInit;
  /** How to reconnect after a dropped connection (see `ReconnectOptions`). */
  reconnect?: FetchWithStreamOptions["reconnect"];
  /**
   * Opt-in persistence: the key under which `{ runId, resumeUrl, offset, committed }` is saved, so
   * that a page reload resumes the run instead of starting a new one.
   */
  persistKey?: string;
  /** Where to persist; defaults to `globalThis.sessionStorage` when it exists (browsers), else nothing. */
  storage?: DurableStreamStorage;
  /** Called for every metadata frame, after the state took it in (same arguments as `fetchWithStream`'s). */
  onMetadata?: FetchWithStreamOptions["onMetadata"];
  /** Called for every chunk, after the state took it in. */
  onData?: FetchWithStreamOptions["onData"];
  /** Called when a step commits, after its chunks moved to `committed`. */
  onCommit?: FetchWithStreamOptions["onCommit"];
  /** Called when a step attempt is rolled back, after its uncommitted chunks were dropped. */
  onRollback?: FetchWithStreamOptions["onRollback"];
  /** Called when the stream is redirected to the wait endpoint. */
  onRedirect?: FetchWithStreamOptions["onRedirect"];
  /** Called before each reconnect attempt. */
  onReconnect?: FetchWithStreamOptions["onReconnect"];
  /** Called once when the run's stream ends (succeeded, failed or aborted), with the final snapshot. */
  onFinish?: (snapshot: DurableStreamSnapshot<unknown, unknown>) => void;
}

/**
 * Where to attach to a run: its resume URL, the offset of the last frame already applied, and the
 * chunks committed up to that offset.
 *
 * @example
 * ```ts
 * const position: DurableStreamPosition<string> = { resumeUrl, offset: "1-12", committed: ["Hello", " world"] };
 * await stream.resume(position);
 * ```
 */
export interface DurableStreamPosition<T = unknown> {
  /** The run's resume URL (`snapshot.resumeUrl`). */
  resumeUrl: string;
  /**
   * The offset after which to read; leave it out to read the run's whole log (then `committed` is
   * ignored: the log rebuilds it).
   */
  offset?: string | null;
  /** The chunks committed up to `offset`. Must be taken at a frame after which no chunk was pending. */
  committed?: readonly T[];
}

/**
 * A framework-neutral store for one durable stream at a time: committed and uncommitted chunks
 * per step, status, result and error, with `subscribe`/`getSnapshot` for any UI (React's
 * `useSyncExternalStore`, Svelte stores, plain DOM code).
 *
 * @example
 * ```ts
 * const stream = createDurableStream<string>({ url: "/api/chat", fetchOpts: { method: "POST" } });
 * stream.subscribe(() => render(stream.getSnapshot()));
 * await stream.start({ body: JSON.stringify({ prompt: "Hi" }) });
 * ```
 */
export interface DurableStream<T = unknown, R = unknown> {
  /** Calls `listener` synchronously after every change (each frame applied); returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
  /** Referentially stable: the same object until something changed. */
  getSnapshot(): DurableStreamSnapshot<T, R>;
  /**
   * Starts a run (a request from `fetchOpts` merged with `input`). A no-op while one is active.
   * When `persistKey` has a saved unfinished run, resumes it instead of starting a new one.
   * Resolves once the stream settled (never rejects: failures end up in the snapshot).
   */
  start(input?: RequestInit): Promise<void>;
  /**
   * Attaches to an existing run; without arguments, to the persisted one (a no-op when there is
   * none). A no-op while a stream is active. Resolves once the stream settled.
   */
  resume(position?: DurableStreamPosition<T>): Promise<void>;
  /** Stops the connection (the server-side run goes on); status `aborted`. */
  abort(reason?: unknown): void;
  /**
   * Stops the run for good: stops the connection at once as `abort` does (status `aborted`, no
   * frame applied after it), then cancels the run at the server with `cancelRun` and the latest
   * resume URL (with `fetchOpts`' headers and credentials, and `init` over them). Works for an
   * active stream, a resumed one, an aborted one and a persisted run not resumed yet; while the
   * first request is on its way, it waits for the run's resume URL first. Once the server
   * cancelled the run, its uncommitted chunks are dropped (the server rolled them back) and the
   * persisted run is forgotten.
   *
   * Resolves with `true` when the server cancelled the run, `false` when there was nothing to
   * cancel (no run, or it was over already: its result can still be read with `resume()`).
   * Rejects as `cancelRun` does (a `DurableClientError` when the server could not be reached or
   * answered otherwise: the position stays persisted, so cancelling again works).
   *
   * @example
   * ```ts
   * stopButton.onclick = () => void stream.cancel().catch((error) => showError(error));
   * ```
   */
  cancel(reason?: unknown, init?: CancelRunInit): Promise<boolean>;
  /** Aborts, clears persisted state, back to the initial snapshot. */
  reset(): void;
  /** Replaces the options used by later `start()`/`resume()` calls (the React hook calls it on re-render). */
  setOptions(options: DurableStreamOptions): void;
  /** Whether persisted state names an unfinished run. */
  hasPersistedRun(): boolean;
}
