import { ActiveRun } from "./active-run.js";
import { cancelRun, type CancelRunInit } from "./cancel-run.js";
import type { PersistedRun } from "./durable-stream-persistence.js";
import { linkSignal, mergeRequestInit, resumeRequestInit } from "./durable-stream-request.js";
import { readResult } from "./durable-stream-result.js";
import type { DurableStreamState, StartPosition } from "./durable-stream-state.js";
import type { DurableStreamOptions, DurableStreamPosition, DurableStreamResult, DurableStreamSnapshot, DurableStreamStatus } from "./durable-stream-types.js";
import { fetchWithStream } from "./fetch-with-stream.js";
import { isReconnectable } from "./reconnect-policy.js";
import { resumeStream } from "./resume-stream.js";
import { runCallbacks, runFetch } from "./run-callbacks.js";
import { createRunPersistence, forgetRunOf, loadRunOf } from "./run-persistence.js";

/**
 * The runs of a `DurableStream`, one at a time: starting one (a new run, or the persisted one),
 * attaching to a given position, settling it when its stream ends, aborting and resetting. The
 * run in progress writes `state`; `options()` are the store's options as of now. Internal.
 */
export class RunLifecycle<T, R> {
  readonly #state: DurableStreamState<T, R>;
  readonly #options: () => DurableStreamOptions;
  /** The run in progress, if any. */
  #active: ActiveRun<T> | undefined;

  constructor(state: DurableStreamState<T, R>, options: () => DurableStreamOptions) {
    this.#state = state;
    this.#options = options;
  }

  /** Starts a run with a request from `fetchOpts` and `input`, or resumes the persisted one. */
  start(input: RequestInit | undefined): Promise<void> {
    if (this.#active !== undefined) return this.#active.done;
    const persisted = this.persistedRun();
    if (persisted !== undefined) return this.#attach(persisted);
    const options = this.#options();
    const init = mergeRequestInit(options.fetchOpts, input);
    const run = this.#begin(options, { runId: null, resumeUrl: null, offset: null, committed: [] }, init.signal);
    run.done = this.#settle(
      run,
      fetchWithStream(options.url, {
        ...runCallbacks(this.#state, run, this.#options),
        fetch: runFetch(this.#state, run, options.fetch),
        reconnect: options.reconnect,
        fetchOpts: { ...init, signal: run.controller.signal },
      }),
    );
    return run.done;
  }

  /** Attaches to `position`, or without one to the persisted run (when there is one). */
  resume(position: DurableStreamPosition<T> | undefined): Promise<void> {
    if (this.#active !== undefined) return this.#active.done;
    if (position === undefined) {
      const persisted = this.persistedRun();
      return persisted === undefined ? Promise.resolve() : this.#attach(persisted);
    }
    return this.#attach({ runId: null, resumeUrl: position.resumeUrl, offset: position.offset ?? null, committed: position.committed ?? [] });
  }

  /** Stops the connection; the run goes on at the server, and its position stays persisted. */
  abort(reason?: unknown): void {
    const run = this.#active;
    if (run === undefined) return;
    this.#stop(run);
    run.controller.abort(reason);
    run.persistence?.keep();
    this.#state.status = "aborted";
    this.#state.error = toAbortError(run.controller.signal.reason);
    this.#state.changed();
  }

  /**
   * Stops the connection as `abort` does, and cancels the run at the server (`cancelRun` with the
   * latest resume URL, the store's headers and credentials). Before the run's metadata arrived,
   * waits for its resume URL first. Once the server cancelled it, the uncommitted chunks are
   * dropped (the server rolled them back) and the persisted run forgotten.
   */
  async cancel(reason: unknown, init: CancelRunInit | undefined): Promise<boolean> {
    const state = this.#state;
    const run = this.#active;
    if (run !== undefined && state.resumeUrl === null) await this.#untilResumeUrl(run);
    const resumeUrl = state.resumeUrl ?? this.persistedRun()?.resumeUrl ?? null;
    const runId = state.runId;
    const active = this.#active;
    if (active !== undefined) this.abort(reason ?? new DOMException("The run was cancelled.", "AbortError"));
    if (resumeUrl === null) return false;
    const options = this.#options();
    const { init: base } = resumeRequestInit(options.fetchOpts);
    const headers = new Headers(base.headers);
    headers.delete("content-type"); // the DELETE has no body (and a cross-origin preflight would refuse the header)
    const cancelled = await cancelRun(resumeUrl, {
      ...base,
      headers,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      ...init,
    });
    const persisted = this.persistedRun();
    if (persisted !== undefined && (persisted.resumeUrl === resumeUrl || (runId !== null && persisted.runId === runId))) forgetRunOf(options);
    // Still the same run on show (no other started meanwhile): mirror the server's rollbacks.
    if (cancelled && this.#active === undefined && state.resumeUrl === resumeUrl && state.view.hasPending) {
      for (const step of state.view.uncommitted) state.view.rollback(step.hashedStepId);
      state.changed();
    }
    return cancelled;
  }

  /** Resolves once the state has the run's resume URL, or `run` ended without one. */
  #untilResumeUrl(run: ActiveRun<T>): Promise<void> {
    return new Promise<void>((resolve) => {
      let unsubscribe: () => void = () => {};
      const check = (): void => {
        if (this.#state.resumeUrl === null && this.#active === run) return;
        unsubscribe();
        resolve();
      };
      unsubscribe = this.#state.subscribe(check);
      void run.done.then(check, check);
    });
  }

  /** Stops the connection, forgets the persisted run, and clears the state. */
  reset(): void {
    const run = this.#active;
    if (run !== undefined) {
      this.#stop(run);
      run.persistence?.discard();
      run.controller.abort(new DOMException("The durable stream was reset.", "AbortError"));
    }
    forgetRunOf(this.#options());
    this.#state.clear();
  }

  /** The unfinished run persisted under the current `persistKey`, if any. */
  persistedRun(): PersistedRun<T> | undefined {
    return loadRunOf<T>(this.#options());
  }

  #attach(position: StartPosition<T> & { readonly resumeUrl: string }): Promise<void> {
    const options = this.#options();
    const { init, signal } = resumeRequestInit(options.fetchOpts);
    const run = this.#begin(options, position, signal);
    run.done = this.#settle(
      run,
      resumeStream(position.resumeUrl, {
        ...runCallbacks(this.#state, run, this.#options),
        fetch: runFetch(this.#state, run, options.fetch),
        reconnect: options.reconnect,
        fetchOpts: { ...init, signal: run.controller.signal },
        ...(position.offset === null ? {} : { offset: position.offset }),
      }),
    );
    return run.done;
  }

  #begin(options: DurableStreamOptions, position: StartPosition<T>, signal: AbortSignal | null | undefined): ActiveRun<T> {
    const state = this.#state;
    state.begin(position);
    const run = new ActiveRun<T>({ offset: state.offset, committed: state.view.committed });
    run.persistence = createRunPersistence<T>(options, () => run.persisted(state.runId, state.resumeUrl));
    this.#active = run;
    state.changed();
    run.unlink = linkSignal(signal, (reason) => {
      if (!run.stopped) this.abort(reason);
    });
    return run;
  }

  async #settle(run: ActiveRun<T>, stream: Promise<Response>): Promise<void> {
    let response: Response;
    let result: DurableStreamResult<R>;
    try {
      response = await stream;
      result = await readResult<R>(response, run.result?.response);
    } catch (failure) {
      // An aborted or reset run was settled by abort()/reset() already.
      if (run.stopped) return;
      // A stream that failed on the way (network down after every reconnect) leaves the run going on
      // at the server: keep its position for a later resume. Anything else ends it for good.
      this.#finish(run, "failed", null, toError(failure), isReconnectable(failure));
      return;
    }
    if (run.stopped) return;
    const failed = run.result !== undefined ? run.result.status === "failed" : !response.ok;
    this.#finish(run, failed ? "failed" : "succeeded", result, null, false);
  }

  #finish(run: ActiveRun<T>, outcome: DurableStreamStatus, result: DurableStreamResult<R> | null, error: Error | null, resumable: boolean): void {
    this.#stop(run);
    if (resumable) run.persistence?.keep();
    else run.persistence?.discard();
    const state = this.#state;
    state.status = outcome;
    state.result = result;
    state.error = error;
    if (run.result !== undefined) state.offset = run.result.offset;
    state.changed();
    this.#options().onFinish?.(state.getSnapshot() as DurableStreamSnapshot<unknown, unknown>);
  }

  #stop(run: ActiveRun<T>): void {
    if (this.#active === run) this.#active = undefined;
    run.stop();
  }
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
