import {
  InvalidOptionsError,
  encodeFramePayload,
  hashStepId,
  ProtocolError,
  snapshotResponse,
  type RedirectReason,
  type ResponseSnapshot,
} from "@durastream/protocol";
import { createDataPayloadEncoder } from "@durastream/protocol/internal";
import {
  runScopeStorage,
  step as stepTools,
  stream as streamTools,
  type PipeSource,
  type ReceivedEvent,
  type RunScopeOwner,
  type StepFunction,
  type StepOptions,
  type StepScope,
  type StepTools,
  type StreamTools,
  type WaitForEventOptions,
} from "./context.js";
import { toMilliseconds } from "./duration.js";
import type { ReportError } from "./background-errors.js";
import { DurableError, StepFailedError, StoreRefusedError, describeError, isNonRetriable } from "./errors.js";
import { nextTurn } from "./event-loop.js";
import { assertWellFormedId } from "./ids.js";
import { toJson } from "./json-data.js";
import { resolveRetryPolicy, type RetryPolicy } from "./retry-policy.js";
import { DEFAULT_MAX_BUFFERED_BYTES, RunLogWriter, SkippedWriteError } from "./run-log-writer.js";
import type { AppendEffects, FrameToAppend, RunRecord, RunStore, StepRecord } from "./store/run-store.js";
import { pipeSource } from "./stream-pipe.js";
import { delay, type Timers } from "./timers.js";

/** What a durable handler receives as its second argument. */
export interface DurableContext {
  /** This run's id (a ULID). */
  readonly runId: string;
  /** Checkpointed steps (the same object as the importable `step`). */
  readonly step: StepTools;
  /** Streaming to the client (the same object as the importable `stream`). */
  readonly stream: StreamTools;
  /** Aborts when the run is cancelled or this execution stops (suspended, taken over). */
  readonly signal: AbortSignal;
}

/** A durable handler: a Web handler that may use `step` and `stream`. */
export type DurableHandler = (request: Request, context: DurableContext) => unknown;

/** How a run ended. */
export interface RunOutcome {
  readonly status: "succeeded" | "failed";
  /** The handler's own Response (or the one built for its return value or error). */
  readonly response: Response;
}

/** How one execution of a handler stopped. */
export type ExecutionEnd =
  | { readonly kind: "finished"; readonly outcome: RunOutcome }
  | { readonly kind: "suspended"; readonly wakeAt: number; readonly reason: RedirectReason }
  | { readonly kind: "lost" };

/** Engine settings a run executes with. */
export interface RunSettings {
  readonly store: RunStore;
  readonly timers: Timers;
  readonly retryPolicy: readonly (RetryPolicy | undefined)[];
  readonly where: string;
  /** Waits up to this long (ms) happen on the live connection; longer ones suspend the run. */
  readonly maxInlineWait: number;
  readonly maxFramesPerRun: number;
  readonly maxLogBytes: number;
  /**
   * Bound on the run's chunks queued for the store and not yet stored (UTF-16 code units plus
   * 64 per frame): pipes stop pulling above it, `stream.ready` waits, and `stream.push` throws
   * `BACKPRESSURE` above {@link PUSH_LIMIT_FACTOR} times it. Default 8 MiB.
   */
  readonly maxBufferedBytes?: number;
  /** Most bytes of the handler's response body read into the result; past it the run fails with `RESPONSE_TOO_LARGE`. Default 16 MiB. */
  readonly maxResponseBytes?: number;
  /** Where background errors go (store writes that failed and are retried). */
  readonly report: ReportError;
  /** Default longest step attempt, ms; undefined for none. */
  readonly stepTimeout: number | undefined;
  /** How long a write the run cannot go on without (a rollback, a result) is retried while the store fails, ms. */
  readonly writeRetryLimit: number;
}

interface BlockingWait {
  readonly wakeAt: number;
  readonly reason: RedirectReason;
  /** Resolves the step in this execution (event waits delivered in-process). */
  readonly resolve?: (value: ReceivedEvent | null) => void;
}

/**
 * What an execution that stopped (suspended, lost, handed over) gives the handler's pending
 * `await`: a promise that never settles, so no code after that `await` runs in this execution.
 * A fresh one per call, referenced by nothing but the frames awaiting it, so once the executor
 * drops the execution, the handler's suspended frames and closures are garbage collected with it.
 * (One shared module-level promise would keep every suspended handler reachable forever.)
 */
function never(): Promise<never> {
  return new Promise<never>(() => {});
}
const encodeOutsideData = createDataPayloadEncoder(null);

/**
 * `stream.push` throws `BACKPRESSURE` once the run's unstored backlog is over this many times
 * `maxBufferedBytes`: room for a burst of pushes between two `await stream.ready`, but not for a
 * loop that never waits.
 */
export const PUSH_LIMIT_FACTOR = 4;

/** The default of `limits.maxResponseBytes`: 16 MiB. */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/**
 * One execution of a durable handler, live or replayed: runs it inside the AsyncLocalStorage scope
 * that `step` and `stream` read, memoizes journaled steps, writes frames to the run's log in
 * order as the executor of one epoch, and stops by finishing the run or suspending it.
 */
export class DurableRun implements RunScopeOwner {
  readonly runId: string;
  readonly epoch: number;
  readonly #settings: RunSettings;
  readonly #writer: RunLogWriter;
  readonly #controller = new AbortController();
  readonly #journal = new Map<string, StepRecord>();
  readonly #journalByPosition = new Map<number, StepRecord>();
  /** Step ids taken in this execution, repeats included as `id:N` (see `#repeatOf`). */
  readonly #takenIds = new Set<string>();
  /** Per id, the lowest repeat index `#repeatOf` may try next. */
  readonly #nextRepeat = new Map<string, number>();
  readonly #interruptedAttempts: ReadonlyMap<string, number>;
  readonly #defaultPolicy;
  readonly #blocking = new Map<string, BlockingWait>();
  readonly #switchListeners = new Set<(reason: RedirectReason) => void>();
  #state: "executing" | "suspending" | "suspended" | "over" | "lost" = "executing";
  #nextPosition = 0;
  #hashes: Promise<unknown> = Promise.resolve();
  #stopWatching: (() => void) | null = null;
  #activeSteps = 0;
  #blockCheckScheduled = false;
  /** Outside-step pushes made by this execution, and how many of them the log already has committed. */
  #outsidePushed = 0;
  #outsideCommitted: number;
  #uncommittedOutside = 0;
  #frameCount: number;
  #logBytes: number;
  #suspend: ((end: ExecutionEnd) => void) | null = null;
  /** Why the run switched to the background, once it has. */
  #switchedFor: RedirectReason | null = null;
  /** Shutting down: no new step or attempt starts. */
  #draining = false;
  /** Step attempts between their start record and their commit or rollback. */
  #attemptsInFlight = 0;
  #onDrained: (() => void) | null = null;

  constructor(record: RunRecord, settings: RunSettings, journal: readonly StepRecord[], interruptedAttempts: ReadonlyMap<string, number>) {
    this.runId = record.runId;
    this.epoch = record.epoch;
    this.#settings = settings;
    this.#writer = new RunLogWriter(settings.store, record.runId, record.epoch, settings.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES);
    this.#defaultPolicy = resolveRetryPolicy(settings.where, ...settings.retryPolicy);
    this.#outsideCommitted = record.outsideCommitted;
    this.#frameCount = record.frameCount;
    this.#logBytes = record.logBytes;
    this.#interruptedAttempts = interruptedAttempts;
    for (const entry of journal) {
      this.#journal.set(entry.hashedStepId, entry);
      this.#journalByPosition.set(entry.position, entry);
    }
  }

  /** Aborts when the run is cancelled, or when this execution stops without finishing. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether this execution is still running the handler. */
  get executing(): boolean {
    return this.#state === "executing";
  }

  /**
   * Calls `listener` when the run suspends (at once if it has already), so live connections can
   * redirect. Returns the remover.
   */
  onSwitch(listener: (reason: RedirectReason) => void): () => void {
    if (this.#switchedFor !== null) {
      listener(this.#switchedFor);
      return () => {};
    }
    this.#switchListeners.add(listener);
    return () => this.#switchListeners.delete(listener);
  }

  /** Cancels the run: pipes stop and cancel their sources, steps stop retrying, the run fails. */
  cancel(reason: string): void {
    if (this.#state !== "executing" || this.#controller.signal.aborted) return;
    this.#controller.abort(new DurableError("RUN_CANCELLED", reason));
  }

  /**
   * Stops this execution without finishing the run: another executor owns it now (the default
   * reason), its lease ran out, the process shuts down, or the store failed for too long. The
   * signal aborts, pipes stop, and nothing more is written.
   */
  lose(reason: unknown = new StoreRefusedError("fenced", this.runId)): void {
    if (this.#state === "over" || this.#state === "lost") return;
    this.#state = "lost";
    this.#controller.abort(reason);
    this.#suspend?.({ kind: "lost" });
    const drained = this.#onDrained;
    this.#onDrained = null;
    drained?.();
  }

  /**
   * For a graceful shutdown: from now on no step or attempt starts, and the returned promise
   * resolves once the attempts running now have stored their commit or rollback.
   */
  drain(): Promise<void> {
    this.#draining = true;
    if (this.#attemptsInFlight === 0 || this.#state !== "executing") return Promise.resolve();
    return new Promise((resolve) => (this.#onDrained = resolve));
  }

  /** Stops this execution and flushes what it queued, for a handover (shutdown). */
  async stop(reason: unknown): Promise<void> {
    this.lose(reason);
    await this.#writer.flush().catch(() => {});
  }

  /**
   * Runs the handler until it settles, or until everything it waits for is a long sleep, an event
   * or a retry backoff (then the run is suspended). With `keepBody`, the outcome's Response body
   * stays readable (the snapshot reads a clone). Never rejects. `finished` settles once the
   * outcome is stored.
   */
  async execute(handler: DurableHandler, request: Request, keepBody: boolean): Promise<ExecutionEnd> {
    const context: DurableContext = { runId: this.runId, step: stepTools, stream: streamTools, signal: this.#controller.signal };
    const stopped = new Promise<ExecutionEnd>((resolve) => (this.#suspend = resolve));
    const handled = (async (): Promise<ExecutionEnd> => {
      let outcome: RunOutcome;
      try {
        const value = await runScopeStorage.run({ run: this, step: null }, () => handler(request, context));
        outcome = { status: "succeeded", response: value instanceof Response ? value : toJsonResponse(value) };
      } catch (error) {
        outcome = { status: "failed", response: failureResponse(error) };
      }
      return { kind: "finished", outcome };
    })();
    const end = await Promise.race([handled, stopped]);
    if (end.kind === "finished") {
      if (this.#state !== "executing") return this.#state === "lost" ? { kind: "lost" } : await stopped;
      this.#state = "over";
      this.#stopWatching?.();
      this.#stopWatching = null;
      this.finished = this.#finish(end.outcome, keepBody);
    }
    return end;
  }

  /** Settles when the run's outcome is in the store (or the store refused it). */
  finished: Promise<void> = Promise.resolve();

  /** Re-reads waiting event steps after `durable.send` delivered to this run, and resolves them. */
  async refreshWaits(): Promise<void> {
    if (this.#state !== "executing") return;
    const entries = await this.#settings.store.listSteps(this.runId);
    for (const entry of entries) {
      const wait = this.#blocking.get(entry.hashedStepId);
      if (wait?.resolve === undefined || entry.status !== "succeeded") continue;
      this.#journal.set(entry.hashedStepId, entry);
      this.#blocking.delete(entry.hashedStepId);
      wait.resolve(parseOutput(entry) as ReceivedEvent | null);
    }
  }

  push(step: StepScope | null, data: unknown): void {
    if (this.#state !== "executing" || (step !== null && !step.active)) return;
    const writer = this.#writer;
    if (writer.bufferedBytes > writer.maxBufferedBytes * PUSH_LIMIT_FACTOR) throw this.#backpressure(step);
    this.#emit(step, toJson(data, "stream.push(data): data", "INVALID_STREAM_DATA"));
  }

  pipe(step: StepScope | null, source: PipeSource): Promise<string> {
    const writer = this.#writer;
    return pipeSource(
      source,
      step?.signal ?? this.#controller.signal,
      (text) => {
        if (this.#state !== "executing" || (step !== null && !step.active)) return;
        this.#emit(step, JSON.stringify(text));
      },
      // Over the bound: stop pulling the source until the store has caught up.
      () => (writer.overBound ? writer.ready() : null),
    );
  }

  /** Resolves once this run's chunks not yet stored are within `maxBufferedBytes` (`stream.ready`). */
  ready(): Promise<void> {
    return this.#writer.ready();
  }

  /** The error of a push made while the run's backlog is far past its bound. */
  #backpressure(step: StepScope | null): DurableError {
    const writer = this.#writer;
    const where = step === null ? "outside steps" : `in step ${JSON.stringify(step.stepId)}`;
    return new DurableError(
      "BACKPRESSURE",
      `stream.push ${where}: run ${this.runId} has ${writer.bufferedBytes} bytes of chunks not yet stored, more than ${PUSH_LIMIT_FACTOR} × limits.maxBufferedBytes (${writer.maxBufferedBytes}); the store cannot keep up with this loop. In a loop that pushes, await stream.ready after each push (it waits while the store catches up), or stream the source with stream.pipe(source), which waits by itself.`,
    );
  }

  async runStep<T>(idOrOptions: string | StepOptions, fn: StepFunction<T>): Promise<Awaited<T>> {
    const options: StepOptions = typeof idOrOptions === "string" ? { id: idOrOptions } : idOrOptions;
    if (typeof fn !== "function") {
      throw new InvalidOptionsError(`step.run("${String(options?.id)}", fn): fn must be a function.`);
    }
    const policy =
      options.retries === undefined && options.backoff === undefined
        ? this.#defaultPolicy
        : resolveRetryPolicy(`step.run("${options.id}")`, ...this.#settings.retryPolicy, options);
    const timeout = options.timeout === undefined ? this.#settings.stepTimeout : stepTimeoutOf(options.timeout, `step.run("${options.id}")`);
    const { hashedStepId, position, memo } = await this.#enterStep(options.id, "step.run");
    const { id } = options;
    const base = { hashedStepId, stepId: id, position, kind: "run" } as const;
    let firstAttempt = 1;
    if (memo !== undefined) {
      if (memo.kind !== "run") throw nonDeterministic(id, position, memo);
      if (memo.status === "succeeded" || memo.status === "failed") return replay(memo);
      // An attempt that was running when its process stopped counts: a step that crashes its
      // process every time must not be run forever.
      firstAttempt = memo.attempts + 1;
      if (memo.status === "running" && memo.attempts > policy.retries) {
        const error = new DurableError(
          "STEP_CRASHED",
          `Step "${id}" crashed its process: attempt ${memo.attempts} of ${memo.attempts} was interrupted (the process running it stopped before the step finished), so it is not run again. A step that kills its process (out of memory, a native crash) fails for good once its retries are spent.`,
        );
        // The takeover already rolled the attempt back (saying it does not run again).
        await this.#storeOrStop([], { step: { ...base, status: "failed", attempts: memo.attempts, error: describeError(error) } });
        throw new StepFailedError(id, memo.attempts, error);
      }
      // A retry whose backoff suspended the run: wait out what is left of it, then go on.
      if (memo.status === "retrying") await this.#wait(hashedStepId, memo.wakeAt ?? 0, "retry");
    }
    // A log written before attempts were put on record: the takeover scan counted the attempt.
    firstAttempt = Math.max(firstAttempt, (this.#interruptedAttempts.get(hashedStepId) ?? 0) + 1);
    const runSignal = this.#controller.signal;
    const encodeData = createDataPayloadEncoder(hashedStepId);
    this.#activeSteps += 1;
    try {
      for (let attempt = firstAttempt; ; attempt += 1) {
        if (this.#state !== "executing" || this.#draining) return never();
        // The attempt is on record before it runs, so one that takes its process down still counts.
        this.#attemptsInFlight += 1;
        let inFlight = true;
        const settleAttempt = (): void => {
          if (!inFlight) return;
          inFlight = false;
          this.#attemptDone();
        };
        let output: string | undefined;
        let failure: { error: unknown } | undefined;
        try {
          await this.#storeOrStop([], { step: { ...base, status: "running", attempts: attempt, retries: policy.retries } });
          if (this.#state !== "executing") return never();
          const failuresBefore = this.#writer.failures;
          const attemptController = timeout === undefined ? null : new AbortController();
          const signal = attemptController === null ? runSignal : attemptController.signal;
          const scope: StepScope = { stepId: id, hashedStepId, encodeData, active: true, signal };
          try {
            const value = await runAttempt(
              () => runScopeStorage.run({ run: this, step: scope }, () => fn({ attempt, signal })),
              attemptController,
              runSignal,
              timeout,
              this.#settings.timers,
              () => new DurableError("TIMEOUT", `Step "${id}" attempt ${attempt} did not finish within ${timeout} ms; it was stopped.`),
            );
            scope.active = false;
            output = value === undefined ? undefined : toJson(value, `The output of step "${id}"`, "INVALID_STEP_OUTPUT");
            if (this.#writer.failures !== failuresBefore) failure = { error: storeFailure(id, this.#writer.failure?.error) };
          } catch (error) {
            scope.active = false;
            failure = { error: runSignal.aborted ? runSignal.reason : error };
          }
          if (this.#state !== "executing") return never();
          if (failure === undefined) {
            const entry: StepRecord = { ...base, status: "succeeded", attempts: attempt, ...(output === undefined ? {} : { output }) };
            const commit: FrameToAppend = { type: "commit", payload: encodeFramePayload({ type: "commit", hashedStepId }) };
            try {
              await this.#write([commit], entry);
              return replay(entry);
            } catch (error) {
              // Skipped: chunks of the attempt may be missing from the log; roll it back. Tried and
              // failed: everything before the commit is stored, so storing the commit again is right
              // (a commit that did land and is stored twice changes nothing for clients).
              if (error instanceof SkippedWriteError) {
                failure = { error: storeFailure(id, error.cause) };
              } else {
                this.#settings.report("write", error, this.runId);
                await this.#writer.recover();
                await this.#storeOrStop([commit], { step: entry });
                return replay(entry);
              }
            }
          }
          const { error } = failure;
          // Whatever the failure cost the log (a dropped batch) is rolled back below.
          if (this.#writer.failure !== null) await this.#writer.recover();
          const willRetry = attempt <= policy.retries && !isNonRetriable(error) && !runSignal.aborted;
          const wireError = describeError(error);
          const rollback: FrameToAppend = {
            type: "rollback",
            payload: encodeFramePayload({ type: "rollback", hashedStepId, attempt, willRetry, error: wireError }),
          };
          if (!willRetry) {
            await this.#storeOrStop([rollback], { step: { ...base, status: "failed", attempts: attempt, error: wireError } });
            if (runSignal.aborted) throw runSignal.reason;
            throw new StepFailedError(id, attempt, error);
          }
          const backoff = policy.delayFor(attempt);
          if (backoff <= this.#settings.maxInlineWait) {
            await this.#storeOrStop([rollback], { step: { ...base, status: "retrying", attempts: attempt, error: wireError } });
            settleAttempt();
            await delay(this.#settings.timers, backoff, runSignal);
            continue;
          }
          // A long backoff: store the attempt count and when to try again, then suspend.
          const wakeAt = this.#settings.timers.now() + backoff;
          await this.#storeOrStop([rollback], { step: { ...base, status: "retrying", attempts: attempt, error: wireError, wakeAt } });
          settleAttempt();
          this.#activeSteps -= 1;
          try {
            await this.#wait(hashedStepId, wakeAt, "retry");
          } finally {
            this.#activeSteps += 1;
          }
        } finally {
          settleAttempt();
        }
      }
    } finally {
      this.#activeSteps -= 1;
      this.#scheduleBlockCheck();
    }
  }

  async sleep(id: string, wakeAtFrom: (now: number) => number): Promise<void> {
    const { hashedStepId, position, memo } = await this.#enterStep(id, "step.sleep");
    let wakeAt: number;
    if (memo !== undefined) {
      if (memo.kind !== "sleep") throw nonDeterministic(id, position, memo);
      wakeAt = memo.wakeAt ?? 0;
    } else {
      wakeAt = wakeAtFrom(this.#settings.timers.now());
      this.#activeSteps += 1;
      try {
        await this.#storeOrStop([], { step: { hashedStepId, stepId: id, position, kind: "sleep", status: "sleeping", attempts: 0, wakeAt } });
      } finally {
        this.#activeSteps -= 1;
      }
    }
    await this.#wait(hashedStepId, wakeAt, "sleep");
  }

  async waitForEvent(id: string, options: WaitForEventOptions): Promise<ReceivedEvent | null> {
    if (typeof options !== "object" || options === null || typeof options.event !== "string" || options.event === "") {
      throw new InvalidOptionsError(`step.waitForEvent("${id}", options): options.event must be the event name to wait for.`);
    }
    if (options.match !== undefined && (typeof options.match !== "object" || options.match === null)) {
      throw new InvalidOptionsError(`step.waitForEvent("${id}"): match must be an object of dot-paths to values, e.g. { "data.orderId": id }.`);
    }
    const timeout = toMilliseconds(options.timeout, `step.waitForEvent("${id}") timeout`);
    const { hashedStepId, position, memo } = await this.#enterStep(id, "step.waitForEvent");
    let entry = memo;
    if (entry !== undefined && entry.kind !== "wait-for-event") throw nonDeterministic(id, position, entry);
    if (entry === undefined) {
      entry = {
        hashedStepId,
        stepId: id,
        position,
        kind: "wait-for-event",
        status: "waiting",
        attempts: 0,
        wakeAt: this.#settings.timers.now() + timeout,
        event: options.event,
        ...(options.match === undefined ? {} : { match: options.match }),
      };
      this.#activeSteps += 1;
      try {
        await this.#storeOrStop([], { step: entry });
      } finally {
        this.#activeSteps -= 1;
      }
    }
    if (entry.status === "succeeded") return parseOutput(entry) as ReceivedEvent | null;
    if ((entry.wakeAt ?? 0) <= this.#settings.timers.now()) {
      await this.#storeOrStop([], { step: { ...entry, status: "succeeded", output: "null" } });
      return null;
    }
    const deadline = entry.wakeAt ?? 0;
    return new Promise<ReceivedEvent | null>((resolve) => {
      this.#blocking.set(hashedStepId, { wakeAt: deadline, reason: "wait-for-event", resolve });
      this.#watchDeliveries();
      this.#scheduleBlockCheck();
    });
  }

  /**
   * While an event wait is pending in this execution, listens to the run's notifications: the store
   * notifies them when `durable.send` (on any instance) delivers an event to this run.
   */
  #watchDeliveries(): void {
    if (this.#stopWatching !== null) return;
    this.#stopWatching = this.#settings.store.subscribe(this.runId, () => {
      if (![...this.#blocking.values()].some((wait) => wait.resolve !== undefined) || this.#state !== "executing") {
        this.#stopWatching?.();
        this.#stopWatching = null;
        return;
      }
      void this.refreshWaits().catch(() => {});
    });
  }

  /** Numbers the step, hashes its id, finds its journal entry and checks replay order. */
  async #enterStep(id: unknown, what: string): Promise<{ hashedStepId: string; position: number; memo: StepRecord | undefined }> {
    if (typeof id !== "string" || id === "") {
      throw new InvalidOptionsError(`${what}(id, …): id must be a non-empty string, e.g. ${what}("fetch-user", …).`);
    }
    assertWellFormedId(id, `${what}(id, …)`);
    // A run being handed over (shutdown) starts no new step: the next executor does.
    if (this.#state !== "executing" || this.#draining) return never();
    const repeat = this.#repeatOf(id);
    const position = this.#nextPosition++;
    // Chunks pushed outside steps before this boundary are final now.
    this.#commitOutside();
    this.#activeSteps += 1;
    let hashedStepId: string;
    try {
      // Hashes resolve in call order, so parallel steps start in the order the handler called them.
      const hashed = this.#hashes.then(() => hashStepId(id, repeat));
      this.#hashes = hashed.catch(() => {});
      hashedStepId = await hashed;
    } finally {
      this.#activeSteps -= 1;
    }
    const atPosition = this.#journalByPosition.get(position);
    if (atPosition !== undefined && atPosition.hashedStepId !== hashedStepId) throw nonDeterministic(id, position, atPosition);
    return { hashedStepId, position, memo: this.#journal.get(hashedStepId) };
  }

  /**
   * The repeat index a step call with `id` hashes under, as Inngest resolves it: 0 (the id as
   * given) when `id` is not taken yet in this execution; otherwise the lowest N, counting up from
   * the last one given to `id`, whose `id:N` is not taken either (a step literally named `"a:1"`
   * makes the second `"a"` hash `"a:2"`, not collide with it). Takes the resolved id. Depends only
   * on the order of step calls, so a replay resolves every call alike.
   */
  #repeatOf(id: string): number {
    if (!this.#takenIds.has(id)) {
      this.#takenIds.add(id);
      return 0;
    }
    let repeat = this.#nextRepeat.get(id) ?? 1;
    while (this.#takenIds.has(`${id}:${repeat}`)) repeat += 1;
    this.#nextRepeat.set(id, repeat + 1);
    this.#takenIds.add(`${id}:${repeat}`);
    return repeat;
  }

  /** Waits until `wakeAt`: on the live connection when short, else by suspending the run. */
  async #wait(hashedStepId: string, wakeAt: number, reason: RedirectReason): Promise<void> {
    const remaining = wakeAt - this.#settings.timers.now();
    if (remaining <= 0) return;
    if (remaining <= this.#settings.maxInlineWait) {
      this.#activeSteps += 1;
      try {
        await delay(this.#settings.timers, remaining, this.#controller.signal);
      } finally {
        this.#activeSteps -= 1;
      }
      return;
    }
    this.#blocking.set(hashedStepId, { wakeAt, reason });
    this.#scheduleBlockCheck();
    return never();
  }

  /** After this turn, suspends the run if all it does is wait (no step running, some wait pending). */
  #scheduleBlockCheck(): void {
    if (this.#blockCheckScheduled) return;
    this.#blockCheckScheduled = true;
    void nextTurn().then(() => {
      this.#blockCheckScheduled = false;
      if (this.#state !== "executing" || this.#activeSteps > 0 || this.#blocking.size === 0) return;
      void this.#suspendRun();
    });
  }

  async #suspendRun(): Promise<void> {
    let wakeAt = Number.POSITIVE_INFINITY;
    let reason: RedirectReason = "sleep";
    for (const wait of this.#blocking.values()) {
      if (wait.wakeAt < wakeAt) ({ wakeAt, reason } = wait);
    }
    this.#state = "suspending";
    const frames: FrameToAppend[] = [];
    const before = { uncommitted: this.#uncommittedOutside, committed: this.#outsideCommitted };
    const outsideCommitted = this.#takeOutsideCommit(frames);
    try {
      await this.#writer.write(frames, { suspend: { wakeAt }, ...(outsideCommitted === undefined ? {} : { outsideCommitted }) });
    } catch (error) {
      const cause = error instanceof SkippedWriteError ? error.cause : error;
      if (StoreRefusedError.isInstance(cause)) {
        this.lose();
        return;
      }
      // The store is failing: stay on this execution and try to suspend again in a moment (the
      // lease, renewed meanwhile, ends it if the store stays down for good).
      this.#settings.report("write", error, this.runId);
      this.#uncommittedOutside = before.uncommitted;
      this.#outsideCommitted = before.committed;
      await this.#writer.recover();
      if (this.#state !== "suspending") return;
      this.#state = "executing";
      await delay(this.#settings.timers, SUSPEND_RETRY_DELAY);
      this.#scheduleBlockCheck();
      return;
    }
    this.#state = "suspended";
    this.#controller.abort(new DurableError("RUN_CANCELLED", "The run was suspended; it goes on in a later execution."));
    this.#stopWatching?.();
    this.#stopWatching = null;
    this.#switchedFor = reason;
    this.#suspend?.({ kind: "suspended", wakeAt, reason });
    for (const listener of this.#switchListeners) listener(reason);
    this.#switchListeners.clear();
  }

  async #finish(outcome: RunOutcome, keepBody: boolean): Promise<void> {
    let { status } = outcome;
    let snapshot: ResponseSnapshot;
    const maxResponseBytes = this.#settings.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    try {
      // A body past the limit is not read further (its stream is cancelled): an endless body
      // costs at most maxResponseBytes.
      snapshot = await snapshotResponse(keepBody ? outcome.response.clone() : outcome.response, { maxBodyBytes: maxResponseBytes });
    } catch (error) {
      status = "failed";
      snapshot = await snapshotResponse(failureResponse(isBodyTooLarge(error) ? responseTooLarge(this.runId, maxResponseBytes, error) : error));
    }
    const frames: FrameToAppend[] = [];
    const outsideCommitted = this.#takeOutsideCommit(frames);
    let payload = encodeFramePayload({ type: "result", status, response: snapshot });
    // The result counts toward maxLogBytes too. One past it still ends the run: with a small
    // failed result that says why, in place of the response.
    const { maxLogBytes } = this.#settings;
    if (this.#logBytes + payload.length > maxLogBytes) {
      const error = new DurableError(
        "LOG_LIMIT",
        `Run ${this.runId}: its result (a ${payload.length}-byte frame) would take its log past limits.maxLogBytes (${maxLogBytes} bytes, ${this.#logBytes} used by its other frames), so the run failed instead of storing it. Return a smaller response (stream large content to the client with stream.pipe inside a step), or raise createDurable({ limits: { maxLogBytes } }).`,
      );
      status = "failed";
      snapshot = await snapshotResponse(failureResponse(error));
      payload = encodeFramePayload({ type: "result", status, response: snapshot });
    }
    this.#logBytes += payload.length;
    frames.push({ type: "result", payload });
    const effects: AppendEffects = { finish: { status, response: snapshot }, ...(outsideCommitted === undefined ? {} : { outsideCommitted }) };
    // Refused: another executor took the run over, or it is over already.
    const stored = await this.#writeRetrying(frames, effects, "finish", () => true);
    if (stored === "gave-up") {
      const { writeRetryLimit } = this.#settings;
      this.#settings.report(
        "finish",
        new DurableError(
          "STORE_UNAVAILABLE",
          `Run ${this.runId}: its result could not be stored for ${writeRetryLimit} ms; the run is left to be taken over (and finished again) once its lease expires.`,
        ),
        this.runId,
      );
    }
  }

  /**
   * Appends through the writer, retrying with backoff while the store fails (each failure is
   * reported under `phase`), for up to `writeRetryLimit`, and while `wanted()` holds.
   */
  async #writeRetrying(
    frames: readonly FrameToAppend[],
    effects: AppendEffects | undefined,
    phase: "write" | "finish",
    wanted: () => boolean,
  ): Promise<"stored" | "refused" | "gave-up" | "unwanted"> {
    const { timers, report, writeRetryLimit } = this.#settings;
    const started = timers.now();
    for (let pause = 50; ; pause = Math.min(pause * 2, 2_000)) {
      try {
        await this.#writer.write(frames, effects);
        return "stored";
      } catch (error) {
        const cause = error instanceof SkippedWriteError ? error.cause : error;
        if (StoreRefusedError.isInstance(cause)) return "refused";
        // A skipped write was not tried: the failure that skipped it was reported already.
        if (!(error instanceof SkippedWriteError)) report(phase, error, this.runId);
        await this.#writer.recover();
        if (!wanted()) return "unwanted";
        if (timers.now() - started >= writeRetryLimit) return "gave-up";
        await delay(timers, pause);
        if (!wanted()) return "unwanted";
      }
    }
  }

  /**
   * Writes frames with effects the run cannot go on without (an attempt's start, a rollback, a
   * sleep or wait entry). While the store fails, the write is retried with backoff, up to
   * `writeRetryLimit`; then this execution stops and the run is left to be taken over. A refused
   * write (fenced, over) stops this execution at once.
   */
  async #storeOrStop(frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<void> {
    const stored = await this.#writeRetrying(frames, effects, "write", () => this.#state === "executing");
    if (stored === "refused") {
      this.lose();
      return never();
    }
    if (stored === "gave-up") {
      const stopped = new DurableError(
        "STORE_UNAVAILABLE",
        `Run ${this.runId}: the store failed every write for ${this.#settings.writeRetryLimit} ms; this process stops executing the run, which is taken over once its lease expires.`,
      );
      this.#settings.report("write", stopped, this.runId);
      this.lose(stopped);
      return never();
    }
    if (stored === "unwanted") return never();
    if (effects?.step !== undefined) this.#remember(effects.step);
  }

  /** One step attempt has stored its outcome (or stopped); a drain waiting for it may end. */
  #attemptDone(): void {
    this.#attemptsInFlight -= 1;
    if (this.#attemptsInFlight === 0 && this.#onDrained !== null) {
      const drained = this.#onDrained;
      this.#onDrained = null;
      drained();
    }
  }

  /** Writes frames with a journal entry; a refused write stops this execution for good. */
  async #write(frames: readonly FrameToAppend[], entry?: StepRecord): Promise<void> {
    try {
      await this.#writer.write(frames, entry === undefined ? undefined : { step: entry });
    } catch (error) {
      if (StoreRefusedError.isInstance(error)) {
        this.lose();
        return never();
      }
      throw error;
    }
    if (entry !== undefined) this.#remember(entry);
  }

  /** Keeps a stored journal entry for this execution's memo and replay-order checks. */
  #remember(entry: StepRecord): void {
    this.#journal.set(entry.hashedStepId, entry);
    this.#journalByPosition.set(entry.position, entry);
  }

  #emit(step: StepScope | null, json: string): void {
    // The store lost frames of this run: a step's later chunks would follow a gap, so its attempt
    // fails (and is rolled back and retried). Outside steps, chunks are dropped until it recovers.
    if (this.#writer.failure !== null) {
      if (step === null) return;
      throw storeFailure(step.stepId, this.#writer.failure.error);
    }
    if (step === null) {
      this.#outsidePushed += 1;
      // Replayed outside-step chunks that the log already has committed are not sent again.
      if (this.#outsidePushed <= this.#outsideCommitted) return;
      this.#uncommittedOutside += 1;
    }
    const payload = (step === null ? encodeOutsideData : step.encodeData)(json);
    this.#frameCount += 1;
    this.#logBytes += payload.length;
    if (this.#frameCount > this.#settings.maxFramesPerRun || this.#logBytes > this.#settings.maxLogBytes) {
      throw new DurableError(
        "LOG_LIMIT",
        `Run ${this.runId} streamed more than its log may hold (${this.#settings.maxFramesPerRun} frames / ${this.#settings.maxLogBytes} bytes). Stream fewer, larger chunks, or raise createDurable({ limits }).`,
      );
    }
    this.#writer.push({ type: "data", payload });
  }

  /** Queues a commit of the outside-step chunks pushed since the last one. */
  #commitOutside(): void {
    const frames: FrameToAppend[] = [];
    const outsideCommitted = this.#takeOutsideCommit(frames);
    if (outsideCommitted !== undefined) void this.#writer.write(frames, { outsideCommitted }).catch(() => {});
  }

  /** Adds the outside-step commit frame to `frames` when one is due; returns the new committed count. */
  #takeOutsideCommit(frames: FrameToAppend[]): number | undefined {
    if (this.#uncommittedOutside === 0) return undefined;
    this.#uncommittedOutside = 0;
    this.#outsideCommitted = this.#outsidePushed;
    frames.push({ type: "commit", payload: encodeFramePayload({ type: "commit", hashedStepId: null }) });
    return this.#outsidePushed;
  }
}

/** Pause before a run whose suspension could not be stored tries to suspend again, ms. */
const SUSPEND_RETRY_DELAY = 500;

/** The error a step attempt fails with when the store lost (or may have lost) its chunks. */
function storeFailure(stepId: string, cause: unknown): DurableError {
  return new DurableError(
    "STORE_UNAVAILABLE",
    `Step "${stepId}": the store failed to take this attempt's chunks (${describeError(cause).message}); the attempt is rolled back and retried.`,
    { cause },
  );
}

/** Validates a step timeout: milliseconds or a duration, more than 0. */
export function stepTimeoutOf(timeout: unknown, where: string): number {
  const milliseconds = toMilliseconds(timeout as string | number, `${where} timeout`);
  if (milliseconds <= 0) throw new InvalidOptionsError(`${where}: "timeout" must be more than 0 ms, got ${String(timeout)}.`);
  return milliseconds;
}

/**
 * Runs one attempt's function. With a timeout, settles (rejecting with the attempt signal's
 * reason) as soon as the attempt's controller aborts: at the timeout, or when the run's signal
 * does; the function's own promise is no longer waited for then.
 */
function runAttempt<T>(
  call: () => T | Promise<T>,
  controller: AbortController | null,
  runSignal: AbortSignal,
  timeout: number | undefined,
  timers: Timers,
  timeoutError: () => DurableError,
): T | Promise<T> {
  if (controller === null || timeout === undefined) return call();
  return new Promise<T>((resolve, reject) => {
    const onRunAbort = (): void => controller.abort(runSignal.reason);
    const onAbort = (): void => {
      cleanup();
      reject(controller.signal.reason);
    };
    const timer = timers.setTimeout(() => controller.abort(timeoutError()), timeout);
    const cleanup = (): void => {
      timers.clearTimeout(timer);
      runSignal.removeEventListener("abort", onRunAbort);
      controller.signal.removeEventListener("abort", onAbort);
    };
    controller.signal.addEventListener("abort", onAbort, { once: true });
    if (runSignal.aborted) onRunAbort();
    else runSignal.addEventListener("abort", onRunAbort, { once: true });
    let result: T | Promise<T>;
    try {
      result = call();
    } catch (error) {
      cleanup();
      reject(error);
      return;
    }
    Promise.resolve(result).then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (error: unknown) => {
        cleanup();
        reject(error);
      },
    );
  });
}

function nonDeterministic(id: string, position: number, entry: StepRecord): DurableError {
  return new DurableError(
    "NON_DETERMINISTIC",
    `Step "${id}" (call ${position + 1} of this run) does not match the journal, which has "${entry.stepId}" (${entry.kind}) there. A durable handler must call its steps in the same order on every execution: keep branching on data that comes from steps, not on time, randomness or unstored input.`,
  );
}

function parseOutput(entry: StepRecord): unknown {
  return entry.output === undefined ? undefined : JSON.parse(entry.output);
}

function replay<T>(entry: StepRecord): Awaited<T> {
  if (entry.status === "failed") {
    const cause = new Error(entry.error?.message ?? "Step failed");
    cause.name = entry.error?.name ?? "Error";
    throw new StepFailedError(entry.stepId, entry.attempts, cause);
  }
  return parseOutput(entry) as Awaited<T>;
}

function toJsonResponse(value: unknown): Response {
  return new Response(value === undefined ? "null" : toJson(value, "The handler's return value", "INVALID_STEP_OUTPUT"), {
    status: 200,
    headers: { "content-type": "application/json" },
  });
}

function isBodyTooLarge(error: unknown): boolean {
  return ProtocolError.isInstance(error) && error.code === "BODY_TOO_LARGE";
}

/** The error a run fails with when its handler's response body is past `maxResponseBytes`. */
function responseTooLarge(runId: string, maxResponseBytes: number, cause: unknown): DurableError {
  return new DurableError(
    "RESPONSE_TOO_LARGE",
    `Run ${runId}: the handler's response body is larger than limits.maxResponseBytes (${maxResponseBytes} bytes), so reading it stopped there (the body was cancelled) and the run failed. Stream large content to the client with stream.pipe(source) inside a step and return a small response (a summary, an id), or raise createDurable({ limits: { maxResponseBytes } }).`,
    { cause },
  );
}

function failureResponse(error: unknown): Response {
  return new Response(describeError(error).message, {
    status: 500,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
