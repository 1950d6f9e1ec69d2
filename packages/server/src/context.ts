import { InvalidOptionsError } from "@durastream/protocol";
import { AsyncLocalStorage } from "node:async_hooks";
import { toMilliseconds, type Duration } from "./duration.js";
import { DurableError } from "./errors.js";
import type { RetryPolicy } from "./retry-policy.js";

/** Options of one step, for `step.run({ id, ... }, fn)`. */
export interface StepOptions extends RetryPolicy {
  /**
   * The step's id, unique per logical step and well-formed UTF-16 (no lone surrogates, else
   * `INVALID_OPTIONS`). A repeat of an id in the run is hashed as `id:N`, the lowest N from the
   * last one given to that id whose `id:N` no step of the run has taken (as Inngest does).
   */
  id: string;
  /**
   * Longest one attempt may take (milliseconds or a duration such as `"30s"`). An attempt still
   * running then fails with a `DurableError` of code `TIMEOUT`: its `signal` aborts, its later
   * chunks are dropped, a rollback frame is sent, and it is retried under the retry policy.
   * Default: the endpoint's `stepTimeout`, else none.
   */
  timeout?: Duration;
}

/** What a step's function receives. */
export interface StepAttempt {
  /** The attempt, from 1. */
  readonly attempt: number;
  /**
   * Aborts when the run is cancelled, when this attempt times out (`timeout`), when the process
   * lost the run's lease or shuts down; pass it to `fetch` and model calls.
   */
  readonly signal: AbortSignal;
}

/** A step's function. Its return value must be JSON-serializable; it is stored and replayed. */
export type StepFunction<T> = (attempt: StepAttempt) => T | Promise<T>;

/** Checkpointed steps. */
export interface StepTools {
  /**
   * Runs `fn` as a checkpointed step: chunks it streams are tagged with the step's hashed id and
   * become final with the step's commit frame, sent after its output is stored. A throwing step is
   * rolled back and retried with backoff; when it has failed for good, `step.run` rejects with a
   * `StepFailedError`. Resolves with the output as stored (a JSON round trip of what `fn` returned).
   * Outside a durable endpoint it simply calls `fn`. Steps cannot be nested: any step tool called
   * inside `fn` rejects with a `DurableError` of code `NESTED_STEP` (not retried).
   *
   * @example
   * ```ts
   * const outline = await step.run("outline", async () => {
   *   return await stream.pipe(model.streamText(prompt));
   * });
   * const summary = await step.run({ id: "summary", retries: 5 }, () => summarize(outline));
   * ```
   */
  run<T>(idOrOptions: string | StepOptions, fn: StepFunction<T>): Promise<Awaited<T>>;
  /**
   * Pauses the run for `duration`. Longer than `maxInlineWait`, the run is suspended: the live
   * connection gets a redirect to the wait endpoint and the run is re-executed (completed steps
   * memoized) when the sleep is over. Outside a durable endpoint it is a plain timer.
   *
   * @example
   * ```ts
   * await step.sleep("cool-down", "30s");
   * ```
   */
  sleep(id: string, duration: Duration): Promise<void>;
  /**
   * Pauses the run until `time` (a Date, epoch-milliseconds or an ISO string); like `sleep`.
   *
   * @example
   * ```ts
   * await step.sleepUntil("tomorrow", new Date(Date.now() + 86_400_000));
   * ```
   */
  sleepUntil(id: string, time: Date | number | string): Promise<void>;
  /**
   * Suspends the run until `durable.send` delivers an event named `event` whose fields match
   * `match`, or until `timeout`. Resolves with the event, or `null` on timeout. Events sent
   * before the wait began are not seen. Throws outside a durable endpoint.
   *
   * @example
   * ```ts
   * const approval = await step.waitForEvent("approval", {
   *   event: "review/approved",
   *   match: { "data.draftId": draftId },
   *   timeout: "1d",
   * });
   * if (approval === null) return new Response("Nobody approved in time", { status: 408 });
   * ```
   */
  waitForEvent<Data = unknown>(id: string, options: WaitForEventOptions): Promise<ReceivedEvent<Data> | null>;
}

/** Options of `step.waitForEvent`. */
export interface WaitForEventOptions {
  /** The event name to wait for. */
  event: string;
  /** Dot-paths into the event and the values they must equal, e.g. `{ "data.orderId": orderId }`. */
  match?: Record<string, unknown>;
  /** How long to wait before resolving with `null`. */
  timeout: Duration;
}

/** An event as `step.waitForEvent` returns it. */
export interface ReceivedEvent<Data = unknown> {
  readonly name: string;
  readonly data: Data;
}

/** What `stream.pipe` accepts. */
export type PipeSource = ReadableStream<Uint8Array | string> | AsyncIterable<string | Uint8Array> | (() => AsyncIterable<string | Uint8Array>);

/** Streaming to the client. */
export interface StreamTools {
  /**
   * Sends one JSON-serializable chunk as a data frame, tagged with the current step (or null
   * outside steps). Fire-and-forget. Throws a `DurableError` (`INVALID_STREAM_DATA`) for data that
   * JSON cannot carry (functions, BigInt, cycles, …). Outside a durable endpoint it does nothing.
   *
   * Chunks are queued for the store and written in the background. In a loop that pushes many
   * chunks, `await stream.ready` after each push (or use `stream.pipe`, which waits by itself):
   * when the run's queue of unstored chunks is over `limits.maxBufferedBytes` (default 8 MiB),
   * `stream.ready` waits until the store has caught up. A push made while that queue is over
   * four times the bound throws a `DurableError` with code `BACKPRESSURE` (not retried) instead
   * of growing memory without end.
   *
   * @example
   * ```ts
   * stream.push({ progress: 0.5 });
   * for (const row of rows) {
   *   stream.push(row);
   *   await stream.ready;
   * }
   * ```
   */
  push(data: unknown): void;
  /**
   * Resolves when the run's chunks queued for the store (pushed or piped, not yet stored) are
   * within `limits.maxBufferedBytes`: at once when they are (the usual case), else once the store
   * has taken enough of them. Await it in a loop that pushes, so a source faster than the store
   * waits instead of filling memory. Read it anew each time: it reflects the backlog when read.
   * Outside a durable endpoint it is a resolved promise.
   *
   * @example
   * ```ts
   * await step.run("rows", async () => {
   *   for await (const row of database.scan()) {
   *     stream.push(row);
   *     await stream.ready;
   *   }
   * });
   * ```
   */
  readonly ready: Promise<void>;
  /**
   * Streams every item of `source` as one data frame and resolves with their concatenated text.
   * Byte streams are decoded as UTF-8. When the run is cancelled (the client went away), it stops
   * pulling, cancels the source and rejects. Outside a durable endpoint it resolves with `""`
   * without reading the source. With backpressure: while the run's chunks not yet stored are over
   * `limits.maxBufferedBytes`, it stops pulling the source and goes on once the store caught up.
   *
   * @example
   * ```ts
   * const text = await stream.pipe(async function* () {
   *   yield "Hello, ";
   *   yield "world";
   * });
   * ```
   */
  pipe(source: PipeSource): Promise<string>;
}

/** The scope of one step attempt: chunks pushed in it carry its hashed id while it is active. */
export interface StepScope {
  /** The id given to `step.run`. */
  readonly stepId: string;
  readonly hashedStepId: string;
  /** Builds this step's data-frame payloads from a chunk's JSON. */
  readonly encodeData: (dataJson: string) => string;
  /** False once the attempt has settled: later pushes from it are dropped. */
  active: boolean;
  /** The attempt's signal: pipes in the step stop when it aborts. */
  readonly signal: AbortSignal;
}

/** What a run exposes to `step` and `stream` through AsyncLocalStorage. */
export interface RunScopeOwner {
  runStep<T>(idOrOptions: string | StepOptions, fn: StepFunction<T>): Promise<Awaited<T>>;
  sleep(id: string, wakeAt: (now: number) => number): Promise<void>;
  waitForEvent(id: string, options: WaitForEventOptions): Promise<ReceivedEvent | null>;
  push(step: StepScope | null, data: unknown): void;
  pipe(step: StepScope | null, source: PipeSource): Promise<string>;
  /** Resolves once the run's unstored backlog is within its bound. */
  ready(): Promise<void>;
}

/** The AsyncLocalStorage value inside a durable endpoint. */
export interface RunScope {
  readonly run: RunScopeOwner;
  readonly step: StepScope | null;
}

const storageKey = Symbol.for("durastream.server.run-scope");

/**
 * The error a step tool called inside another step's function rejects with. Refused at the first
 * call, before anything is numbered or journaled: a nested step would be journaled on the first
 * execution but not reached on a replay (the outer step's output is memoized, its function does
 * not run), so the run would fail with NON_DETERMINISTIC only after a suspension or takeover.
 */
function nestedStep(tool: string, id: unknown, outer: StepScope): DurableError {
  const called = `${tool}(${typeof id === "string" ? JSON.stringify(id) : "…"})`;
  return new DurableError(
    "NESTED_STEP",
    `${called} was called inside the function of step ${JSON.stringify(outer.stepId)}; steps cannot be nested. Call step.run, step.sleep and step.waitForEvent from the handler (or from plain functions the handler awaits), not from inside another step's function; to reuse work inside a step, call a plain async function there.`,
  );
}

/**
 * @internal The AsyncLocalStorage behind `step` and `stream`. Kept on `globalThis` under a
 * `Symbol.for` key, so that two copies of this package in one process (bundlers that compile each
 * route separately, e.g. `next dev`) share one scope: `step`/`stream` imported from one copy work
 * inside an endpoint created by the other.
 */
export const runScopeStorage: AsyncLocalStorage<RunScope> = ((globalThis as Record<symbol, unknown>)[storageKey] ??=
  new AsyncLocalStorage<RunScope>()) as AsyncLocalStorage<RunScope>;

/**
 * Checkpointed steps of the current durable endpoint, found through AsyncLocalStorage, so it can
 * be imported anywhere. The same object is handed to handlers as `context.step`.
 *
 * @example
 * ```ts
 * import { step } from "@durastream/server";
 * const user = await step.run("load-user", () => db.users.find(id));
 * ```
 */
export const step: StepTools = {
  run(idOrOptions, fn) {
    const scope = runScopeStorage.getStore();
    if (scope === undefined) {
      return Promise.resolve().then(() => fn({ attempt: 1, signal: new AbortController().signal })) as Promise<Awaited<ReturnType<typeof fn>>>;
    }
    if (scope.step !== null) {
      const id = typeof idOrOptions === "object" && idOrOptions !== null ? idOrOptions.id : idOrOptions;
      return Promise.reject(nestedStep("step.run", id, scope.step));
    }
    return scope.run.runStep(idOrOptions, fn);
  },
  sleep(id, duration) {
    const milliseconds = toMilliseconds(duration, `step.sleep("${id}")`);
    const scope = runScopeStorage.getStore();
    if (scope === undefined) return new Promise((resolve) => setTimeout(resolve, milliseconds));
    if (scope.step !== null) return Promise.reject(nestedStep("step.sleep", id, scope.step));
    return scope.run.sleep(id, (now) => now + milliseconds);
  },
  sleepUntil(id, time) {
    const at = time instanceof Date ? time.getTime() : typeof time === "string" ? Date.parse(time) : time;
    if (typeof at !== "number" || !Number.isFinite(at)) {
      throw new InvalidOptionsError(`step.sleepUntil("${id}"): ${String(time)} is not a time; pass a Date, epoch-milliseconds or an ISO string.`);
    }
    const scope = runScopeStorage.getStore();
    if (scope === undefined) return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
    if (scope.step !== null) return Promise.reject(nestedStep("step.sleepUntil", id, scope.step));
    return scope.run.sleep(id, () => at);
  },
  waitForEvent(id, options) {
    const scope = runScopeStorage.getStore();
    if (scope === undefined) {
      return Promise.reject(
        new DurableError("NOT_IN_ENDPOINT", `step.waitForEvent("${id}") only works inside a durable endpoint (durable.endpoint(handler)).`),
      );
    }
    if (scope.step !== null) return Promise.reject(nestedStep("step.waitForEvent", id, scope.step));
    return scope.run.waitForEvent(id, options) as Promise<ReceivedEvent<never> | null>;
  },
};

/**
 * Streaming to the client of the current durable endpoint, found through AsyncLocalStorage. The
 * same object is handed to handlers as `context.stream`.
 *
 * @example
 * ```ts
 * import { stream } from "@durastream/server";
 * await step.run("answer", () => stream.pipe(tokens));
 * ```
 */
export const stream: StreamTools = {
  push(data) {
    const scope = runScopeStorage.getStore();
    if (scope !== undefined) scope.run.push(scope.step, data);
  },
  get ready() {
    const scope = runScopeStorage.getStore();
    // (A run of an older copy of this package in the same process has no ready().)
    return typeof scope?.run.ready === "function" ? scope.run.ready() : Promise.resolve();
  },
  pipe(source) {
    const scope = runScopeStorage.getStore();
    return scope === undefined ? Promise.resolve("") : scope.run.pipe(scope.step, source);
  },
};
