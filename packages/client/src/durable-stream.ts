import { InvalidOptionsError } from "@durastream/protocol";
import { emptyChunkList, type ChunkList } from "./chunk-list.js";
import { CommittedViewState } from "./committed-view-state.js";
import {
  createRunSaver,
  loadPersistedRun,
  removePersistedRun,
  resolveStorage,
  type PersistedRun,
  type RunSaver,
} from "./durable-stream-persistence.js";
import { linkSignal, mergeRequestInit, noop, resumeRequestInit } from "./durable-stream-request.js";
import { readResult } from "./durable-stream-result.js";
import type {
  DurableStream,
  DurableStreamOptions,
  DurableStreamPosition,
  DurableStreamResult,
  DurableStreamSnapshot,
  DurableStreamStatus,
  DurableStreamStorage,
} from "./durable-stream-types.js";
import { isEventStreamResponse } from "./event-stream-media-type.js";
import type { FetchFunction, FetchWithStreamOptions, StreamResult } from "./fetch-with-stream-options.js";
import { fetchWithStream } from "./fetch-with-stream.js";
import { isReconnectable } from "./reconnect-policy.js";
import { resumeStream } from "./resume-stream.js";

/** The snapshot of every store before its first run and after `reset()` (one shared object). */
const INITIAL_SNAPSHOT: DurableStreamSnapshot<never, never> = Object.freeze({
  status: "idle",
  runId: null,
  resumeUrl: null,
  lastEventId: null,
  committed: emptyChunkList<never>(),
  uncommitted: Object.freeze([]),
  committedText: "",
  uncommittedText: "",
  result: null,
  error: null,
});

/** The position a run starts from: nothing for a new run, the given or persisted one for a resume. */
interface StartPosition<T> {
  readonly runId: string | null;
  readonly resumeUrl: string | null;
  readonly lastEventId: string | null;
  readonly committed: readonly T[];
}

/** One stream in progress: what `abort()` stops and what late callbacks are checked against. */
interface ActiveRun<T> {
  readonly controller: AbortController;
  /** Settles when the stream ended, however it ended. */
  done: Promise<void>;
  /** True after a redirect frame, until the next log frame. */
  waiting: boolean;
  /** The result frame, once it arrived. */
  result: StreamResult | undefined;
  /** The latest frame after which no chunk was pending: where a reload may resume. */
  safePoint: { readonly offset: string | null; readonly committed: ChunkList<T> };
  readonly persistence: { readonly storage: DurableStreamStorage; readonly key: string; readonly saver: RunSaver } | undefined;
  /** Stops listening to the caller's `signal`. */
  unlink: () => void;
}

/**
 * Creates a framework-neutral store for a durable stream, built on `fetchWithStream` and
 * `resumeStream`: it applies the committed view of the protocol (committed chunks, and the
 * uncommitted chunks of each step), tracks the status (`connecting`, `streaming`, `waiting` after a
 * redirect, `reconnecting`, `succeeded`, `failed`, `aborted`) and the run's result, and notifies
 * subscribers synchronously after every frame. Snapshots are immutable and built lazily: a
 * 100,000-chunk stream costs O(1) amortized per chunk.
 *
 * With `persistKey`, the run's resume position is saved (throttled) in `storage` (default
 * `sessionStorage`), so that after a page reload `start()` (or `resume()`) picks the run up
 * instead of starting a new one.
 *
 * @example
 * ```ts
 * const stream = createDurableStream<string, { answer: string }>({
 *   url: "/api/chat",
 *   fetchOpts: { method: "POST", headers: { "content-type": "application/json" } },
 *   persistKey: "chat",
 * });
 * stream.subscribe(() => {
 *   const { status, committedText, uncommittedText } = stream.getSnapshot();
 *   output.innerHTML = `${escape(committedText)}<span class="dim">${escape(uncommittedText)}</span>`;
 *   statusLine.textContent = status;
 * });
 * await stream.start({ body: JSON.stringify({ prompt: "Hi" }) });
 * ```
 */
export function createDurableStream<T = unknown, R = unknown>(initialOptions: DurableStreamOptions): DurableStream<T, R> {
  let options = checkOptions(initialOptions);
  const listeners = new Set<() => void>();
  let view = new CommittedViewState<T>();
  let status: DurableStreamStatus = "idle";
  let runId: string | null = null;
  let resumeUrl: string | null = null;
  let lastEventId: string | null = null;
  let result: DurableStreamResult<R> | null = null;
  let error: Error | null = null;
  let snapshot: DurableStreamSnapshot<T, R> | undefined = INITIAL_SNAPSHOT;
  let active: ActiveRun<T> | undefined;

  const notify = (): void => {
    for (const listener of listeners) {
      try {
        listener();
      } catch (failure) {
        // A subscriber's bug must not break the stream (or the other subscribers): surface it apart.
        queueMicrotask(() => {
          throw failure;
        });
      }
    }
  };
  const changed = (): void => {
    snapshot = undefined;
    notify();
  };
  const buildSnapshot = (): DurableStreamSnapshot<T, R> =>
    Object.freeze({
      status,
      runId,
      resumeUrl,
      lastEventId,
      committed: view.committed,
      uncommitted: view.uncommitted,
      committedText: view.committedText,
      uncommittedText: view.uncommittedText,
      result,
      error,
    });

  const loadPersisted = (): PersistedRun<T> | undefined => {
    const storage = resolveStorage(options);
    return storage === undefined || options.persistKey === undefined ? undefined : loadPersistedRun<T>(storage, options.persistKey);
  };

  const beginRun = (runOptions: DurableStreamOptions, position: StartPosition<T>, signal: AbortSignal | null | undefined): ActiveRun<T> => {
    view = new CommittedViewState<T>(position.lastEventId === null ? [] : position.committed);
    status = "connecting";
    runId = position.runId;
    resumeUrl = position.resumeUrl;
    lastEventId = position.lastEventId;
    result = null;
    error = null;
    const storage = resolveStorage(runOptions);
    const key = runOptions.persistKey;
    const run: ActiveRun<T> = {
      controller: new AbortController(),
      done: Promise.resolve(),
      waiting: false,
      result: undefined,
      safePoint: { offset: lastEventId, committed: view.committed },
      persistence: undefined,
      unlink: noop,
    };
    if (storage !== undefined && key !== undefined) {
      const saver = createRunSaver<T>(storage, key, () =>
        runId === null || resumeUrl === null
          ? undefined
          : { runId, resumeUrl, lastEventId: run.safePoint.offset, committed: run.safePoint.committed.toArray() },
      );
      (run as { persistence: ActiveRun<T>["persistence"] }).persistence = { storage, key, saver };
    }
    active = run;
    changed();
    run.unlink = linkSignal(signal, (reason) => {
      if (active === run) abort(reason);
    });
    return run;
  };

  const callbacksFor = (run: ActiveRun<T>): FetchWithStreamOptions => {
    const applied = (offset: string): void => {
      lastEventId = offset;
      run.waiting = false;
      status = "streaming";
    };
    const settledStep = (offset: string): void => {
      if (view.hasPending) return;
      run.safePoint = { offset, committed: view.committed };
      run.persistence?.saver.schedule();
    };
    return {
      onMetadata: (metadata) => {
        if (active !== run) return;
        runId = metadata.runId;
        resumeUrl = metadata.resumeUrl;
        if (status === "connecting" || status === "reconnecting") status = run.waiting ? "waiting" : "streaming";
        run.persistence?.saver.schedule();
        changed();
        options.onMetadata?.(metadata);
      },
      onData: (chunk) => {
        if (active !== run) return;
        view.data(chunk.hashedStepId, chunk.data as T);
        applied(chunk.offset);
        changed();
        options.onData?.(chunk);
      },
      onCommit: (commit) => {
        if (active !== run) return;
        view.commit(commit.hashedStepId);
        applied(commit.offset);
        settledStep(commit.offset);
        changed();
        options.onCommit?.(commit);
      },
      onRollback: (rollback) => {
        if (active !== run) return;
        view.rollback(rollback.hashedStepId);
        applied(rollback.offset);
        settledStep(rollback.offset);
        changed();
        options.onRollback?.(rollback);
      },
      onRedirect: (redirect) => {
        if (active !== run) return;
        run.waiting = true;
        status = "waiting";
        changed();
        options.onRedirect?.(redirect);
      },
      onReconnect: (attempt) => {
        if (active !== run) return;
        status = "reconnecting";
        changed();
        options.onReconnect?.(attempt);
      },
      onResult: (frame) => {
        // Applied when the response is read (see `settle`): status, result and offset change together.
        if (active === run) run.result = frame;
      },
    };
  };

  /**
   * The run's `fetch`, noticing when a reconnect succeeded: `fetchWithStream` reports no metadata
   * for a connection to the same run, and the run may well sleep on, sending no frame for a while.
   */
  const fetchFor = (run: ActiveRun<T>, fetchFunction: FetchFunction | undefined): FetchFunction => {
    return async (input, init) => {
      const response = await (fetchFunction ?? globalThis.fetch)(input, init);
      if (active === run && status === "reconnecting" && response.ok && isEventStreamResponse(response)) {
        status = run.waiting ? "waiting" : "streaming";
        changed();
      }
      return response;
    };
  };

  const finish = (run: ActiveRun<T>, outcome: DurableStreamStatus, finalResult: DurableStreamResult<R> | null, failure: Error | null, keepPersisted: boolean): void => {
    active = undefined;
    run.unlink();
    const persistence = run.persistence;
    if (persistence !== undefined) {
      if (keepPersisted) persistence.saver.flush();
      persistence.saver.cancel();
      if (!keepPersisted) removePersistedRun(persistence.storage, persistence.key);
    }
    status = outcome;
    result = finalResult;
    error = failure;
    if (run.result !== undefined) lastEventId = run.result.offset;
    changed();
    options.onFinish?.((snapshot ??= buildSnapshot()) as DurableStreamSnapshot<unknown, unknown>);
  };

  const settle = async (run: ActiveRun<T>, stream: Promise<Response>): Promise<void> => {
    let response: Response;
    let finalResult: DurableStreamResult<R>;
    try {
      response = await stream;
      finalResult = await readResult<R>(response, run.result?.response);
    } catch (failure) {
      // An aborted or reset run was settled by abort()/reset() already.
      if (active !== run) return;
      // A stream that failed on the way (network down after every reconnect) leaves the run going on
      // at the server: keep its position for a later resume. Anything else ends it for good.
      finish(run, "failed", null, toError(failure), isReconnectable(failure));
      return;
    }
    if (active !== run) return;
    const failed = run.result !== undefined ? run.result.status === "failed" : !response.ok;
    finish(run, failed ? "failed" : "succeeded", finalResult, null, false);
  };

  const attach = (position: StartPosition<T> & { readonly resumeUrl: string }): Promise<void> => {
    const runOptions = options;
    const { init, signal } = resumeRequestInit(runOptions.fetchOpts);
    const run = beginRun(runOptions, position, signal);
    run.done = settle(
      run,
      resumeStream(position.resumeUrl, {
        ...callbacksFor(run),
        fetch: fetchFor(run, runOptions.fetch),
        reconnect: runOptions.reconnect,
        fetchOpts: { ...init, signal: run.controller.signal },
        ...(position.lastEventId === null ? {} : { lastEventId: position.lastEventId }),
      }),
    );
    return run.done;
  };

  const abort = (reason?: unknown): void => {
    const run = active;
    if (run === undefined) return;
    active = undefined;
    run.unlink();
    run.controller.abort(reason);
    // The run goes on at the server: save where it stands, so it can be resumed.
    run.persistence?.saver.flush();
    run.persistence?.saver.cancel();
    status = "aborted";
    error = toAbortError(run.controller.signal.reason);
    changed();
  };

  return {
    subscribe(listener) {
      const entry = (): void => listener();
      listeners.add(entry);
      return () => {
        listeners.delete(entry);
      };
    },
    getSnapshot() {
      return (snapshot ??= buildSnapshot());
    },
    start(input) {
      if (active !== undefined) return active.done;
      const persisted = loadPersisted();
      if (persisted !== undefined) return attach(persisted);
      const runOptions = options;
      const init = mergeRequestInit(runOptions.fetchOpts, input);
      const run = beginRun(runOptions, { runId: null, resumeUrl: null, lastEventId: null, committed: [] }, init.signal);
      run.done = settle(
        run,
        fetchWithStream(runOptions.url, {
          ...callbacksFor(run),
          fetch: fetchFor(run, runOptions.fetch),
          reconnect: runOptions.reconnect,
          fetchOpts: { ...init, signal: run.controller.signal },
        }),
      );
      return run.done;
    },
    resume(position?: DurableStreamPosition<T>) {
      if (active !== undefined) return active.done;
      if (position === undefined) {
        const persisted = loadPersisted();
        return persisted === undefined ? Promise.resolve() : attach(persisted);
      }
      const lastEventId = position.lastEventId ?? null;
      return attach({ runId: null, resumeUrl: position.resumeUrl, lastEventId, committed: position.committed ?? [] });
    },
    abort,
    reset() {
      const run = active;
      active = undefined;
      if (run !== undefined) {
        run.unlink();
        run.persistence?.saver.cancel();
        run.controller.abort(new DOMException("The durable stream was reset.", "AbortError"));
        if (run.persistence !== undefined) removePersistedRun(run.persistence.storage, run.persistence.key);
      }
      const storage = resolveStorage(options);
      if (storage !== undefined && options.persistKey !== undefined) removePersistedRun(storage, options.persistKey);
      view = new CommittedViewState<T>();
      status = "idle";
      runId = resumeUrl = lastEventId = null;
      result = null;
      error = null;
      if (snapshot === INITIAL_SNAPSHOT) return;
      snapshot = INITIAL_SNAPSHOT;
      notify();
    },
    setOptions(next) {
      options = checkOptions(next);
    },
    hasPersistedRun() {
      return loadPersisted() !== undefined;
    },
  };
}

function checkOptions(options: DurableStreamOptions): DurableStreamOptions {
  const url: unknown = (options as Partial<DurableStreamOptions> | undefined)?.url;
  if (typeof url !== "string" && !(url instanceof URL)) {
    throw new InvalidOptionsError(`createDurableStream needs the endpoint's url (a string or URL), got ${String(url)}.`);
  }
  return options;
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value), { cause: value });
}

function toAbortError(reason: unknown): Error {
  if (reason instanceof Error) return reason;
  const error = new Error(`The durable stream was aborted: ${String(reason)}`, { cause: reason });
  error.name = "AbortError";
  return error;
}

