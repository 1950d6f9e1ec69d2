import type { RedirectReason } from "@durastream/protocol";
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
  type WaitForEventOptions,
} from "./context.js";
import { DurableError, StoreRefusedError } from "./errors.js";
import { InFlight } from "./in-flight.js";
import { toJson } from "./json-data.js";
import { never } from "./never.js";
import { resolveRetryPolicy } from "./retry-policy.js";
import { SkippedWriteError, type RunLogWriter } from "./run-log-writer.js";
import { PUSH_LIMIT_FACTOR, RunOutput } from "./run-output.js";
import { DEFAULT_MAX_RESPONSE_BYTES, failureResponse, snapshotOutcome, toJsonResponse } from "./run-response.js";
import type { DurableContext, DurableHandler, ExecutionEnd, RunOutcome, RunSettings } from "./run-types.js";
import type { StepHost } from "./step-host.js";
import { runDurableStep } from "./step-run.js";
import { sleepStep, waitForEventStep } from "./step-waits.js";
import { StepJournal, assertStepId, parseOutput, type EnteredStep } from "./step-journal.js";
import type { AppendEffects, FrameToAppend, RunRecord, StepRecord } from "./store/run-store.js";
import { pipeSource } from "./stream-pipe.js";
import { Suspension } from "./suspension.js";
import { delay } from "./timers.js";
import { writeRetrying } from "./write-retrying.js";

/** Pause before a run whose suspension could not be stored tries to suspend again, ms. */
const SUSPEND_RETRY_DELAY = 500;

/**
 * One execution of a durable handler, live or replayed: runs it inside the AsyncLocalStorage scope
 * that `step` and `stream` read, memoizes journaled steps, writes frames to the run's log in
 * order as the executor of one epoch, and stops by finishing the run or suspending it.
 *
 * Its parts: a {@link StepJournal} (step numbering, memo, replay order), a {@link Suspension}
 * (when all the run does is wait, and who hears of it), a {@link RunOutput} (chunks, log limits,
 * outside-step commits and the result, through the batching `RunLogWriter`), the step tools
 * (step-run.ts: the attempts of `step.run`; step-waits.ts: sleeps and event waits), which reach
 * this execution through a {@link StepHost}, and an {@link InFlight} count of step attempts (for
 * a graceful drain).
 */
export class DurableRun implements RunScopeOwner {
  readonly runId: string;
  readonly epoch: number;
  readonly #settings: RunSettings;
  readonly #writer: RunLogWriter;
  readonly #controller = new AbortController();
  readonly #journal: StepJournal;
  /** What the step tools (step-run.ts, step-waits.ts) use of this execution. */
  readonly #stepHost: StepHost;
  readonly #suspension = new Suspension(
    () => this.#state === "executing",
    (wakeAt, reason) => void this.#suspendRun(wakeAt, reason),
  );
  readonly #output: RunOutput;
  /** Step attempts between their start record and their commit or rollback. */
  readonly #attempts = new InFlight();
  #state: "executing" | "suspending" | "suspended" | "over" | "lost" = "executing";
  /** Shutting down: no new step or attempt starts. */
  #draining = false;
  #stopWatching: (() => void) | null = null;

  constructor(record: RunRecord, settings: RunSettings, journal: readonly StepRecord[], interruptedAttempts: ReadonlyMap<string, number>) {
    this.runId = record.runId;
    this.epoch = record.epoch;
    this.#settings = settings;
    this.#output = new RunOutput(record, settings);
    this.#writer = this.#output.writer;
    this.#journal = new StepJournal(journal);
    this.#stepHost = {
      runId: this.runId,
      settings,
      writer: this.#writer,
      signal: this.#controller.signal,
      scopeOwner: this,
      defaultPolicy: resolveRetryPolicy(settings.where, ...settings.retryPolicy),
      interruptedAttempts,
      suspension: this.#suspension,
      attempts: this.#attempts,
      executing: () => this.#state === "executing",
      accepting: () => this.#state === "executing" && !this.#draining,
      watchDeliveries: () => this.#watchDeliveries(),
      enterStep: (id, what) => this.#enterStep(id, what),
      storeOrStop: (frames, effects) => this.#storeOrStop(frames, effects),
      write: (frames, entry) => this.#write(frames, entry),
      wait: (hashedStepId, wakeAt, reason) => this.#wait(hashedStepId, wakeAt, reason),
    };
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
    return this.#suspension.onSwitch(listener);
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
    this.#suspension.lost();
    this.#attempts.stopWaiting();
  }

  /**
   * For a graceful shutdown: from now on no step or attempt starts, and the returned promise
   * resolves once the attempts running now have stored their commit or rollback.
   */
  drain(): Promise<void> {
    this.#draining = true;
    if (this.#state !== "executing") return Promise.resolve();
    return this.#attempts.whenIdle();
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
    const stopped = this.#suspension.stopped();
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
      this.#stopWatchingDeliveries();
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
      if (entry.status !== "succeeded" || !this.#suspension.isWaitingForEvent(entry.hashedStepId)) continue;
      this.#journal.remember(entry);
      this.#suspension.deliver(entry.hashedStepId, parseOutput(entry) as ReceivedEvent | null);
    }
  }

  push(step: StepScope | null, data: unknown): void {
    if (this.#state !== "executing" || (step !== null && !step.active)) return;
    const writer = this.#writer;
    if (writer.bufferedBytes > writer.maxBufferedBytes * PUSH_LIMIT_FACTOR) throw this.#output.backpressure(step);
    this.#output.emit(step, toJson(data, "stream.push(data): data", "INVALID_STREAM_DATA"));
  }

  pipe(step: StepScope | null, source: PipeSource): Promise<string> {
    const output = this.#output;
    const writer = output.writer;
    return pipeSource(
      source,
      step?.signal ?? this.#controller.signal,
      (text) => {
        if (this.#state !== "executing" || (step !== null && !step.active)) return;
        output.emit(step, JSON.stringify(text));
      },
      // Over the bound: stop pulling the source until the store has caught up.
      () => (writer.overBound ? writer.ready() : null),
    );
  }

  /** Resolves once this run's chunks not yet stored are within `maxBufferedBytes` (`stream.ready`). */
  ready(): Promise<void> {
    return this.#writer.ready();
  }

  runStep<T>(idOrOptions: string | StepOptions, fn: StepFunction<T>): Promise<Awaited<T>> {
    return runDurableStep(this.#stepHost, idOrOptions, fn);
  }

  sleep(id: string, wakeAtFrom: (now: number) => number): Promise<void> {
    return sleepStep(this.#stepHost, id, wakeAtFrom);
  }

  waitForEvent(id: string, options: WaitForEventOptions): Promise<ReceivedEvent | null> {
    return waitForEventStep(this.#stepHost, id, options);
  }

  /**
   * While an event wait is pending in this execution, listens to the run's notifications: the store
   * notifies them when `durable.send` (on any instance) delivers an event to this run.
   */
  #watchDeliveries(): void {
    // An event delivered after this execution read its journal and before this wait blocked (e.g.
    // while it replayed earlier steps) is in the store only: look once more now that it blocks.
    void this.refreshWaits().catch(() => {});
    if (this.#stopWatching !== null) return;
    this.#stopWatching = this.#settings.store.subscribe(this.runId, () => {
      if (!this.#suspension.hasEventWaits || this.#state !== "executing") {
        this.#stopWatchingDeliveries();
        return;
      }
      void this.refreshWaits().catch(() => {});
    });
  }

  #stopWatchingDeliveries(): void {
    this.#stopWatching?.();
    this.#stopWatching = null;
  }

  /** Checks the id, numbers the step, hashes its id, finds its journal entry and checks replay order. */
  async #enterStep(id: unknown, what: string): Promise<EnteredStep> {
    assertStepId(id, what);
    // A run being handed over (shutdown) starts no new step: the next executor does.
    if (this.#state !== "executing" || this.#draining) return never();
    const { position, repeat } = this.#journal.number(id);
    // Chunks pushed outside steps before this boundary are final now.
    this.#output.commitOutside();
    const stopWorking = this.#suspension.working.enter();
    let hashedStepId: string;
    try {
      hashedStepId = await this.#journal.hash(id, repeat);
    } finally {
      stopWorking();
    }
    return this.#journal.find(id, position, hashedStepId);
  }

  /** Waits until `wakeAt`: on the live connection when short, else by suspending the run. */
  async #wait(hashedStepId: string, wakeAt: number, reason: RedirectReason): Promise<void> {
    const remaining = wakeAt - this.#settings.timers.now();
    if (remaining <= 0) return;
    if (remaining <= this.#settings.maxInlineWait) {
      const stopWorking = this.#suspension.working.enter();
      try {
        await delay(this.#settings.timers, remaining, this.#controller.signal);
      } finally {
        stopWorking();
      }
      return;
    }
    this.#suspension.block(hashedStepId, { wakeAt, reason });
    return never();
  }

  /** Stores the suspension (with a commit of pending outside-step chunks) and stops this execution. */
  async #suspendRun(wakeAt: number, reason: RedirectReason): Promise<void> {
    this.#state = "suspending";
    try {
      await this.#output.writeSuspension(wakeAt);
    } catch (error) {
      const cause = error instanceof SkippedWriteError ? error.cause : error;
      if (StoreRefusedError.isInstance(cause)) {
        this.lose();
        return;
      }
      // The store is failing: stay on this execution and try to suspend again in a moment (the
      // lease, renewed meanwhile, ends it if the store stays down for good).
      this.#settings.report("write", error, this.runId);
      await this.#writer.recover();
      if (this.#state !== "suspending") return;
      this.#state = "executing";
      await delay(this.#settings.timers, SUSPEND_RETRY_DELAY);
      this.#suspension.scheduleCheck();
      return;
    }
    this.#state = "suspended";
    this.#controller.abort(new DurableError("RUN_CANCELLED", "The run was suspended; it goes on in a later execution."));
    this.#stopWatchingDeliveries();
    this.#suspension.suspended(wakeAt, reason);
  }

  async #finish(outcome: RunOutcome, keepBody: boolean): Promise<void> {
    const maxResponseBytes = this.#settings.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const { status, snapshot } = await snapshotOutcome(outcome, keepBody, this.runId, maxResponseBytes);
    const { frames, effects } = await this.#output.result(status, snapshot);
    // Refused: another executor took the run over, or it is over already.
    const stored = await writeRetrying(this.#writer, this.#settings, this.runId, frames, effects, "finish", () => true);
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
   * Writes frames with effects the run cannot go on without (an attempt's start, a rollback, a
   * sleep or wait entry). While the store fails, the write is retried with backoff, up to
   * `writeRetryLimit`; then this execution stops and the run is left to be taken over. A refused
   * write (fenced, over) stops this execution at once.
   */
  async #storeOrStop(frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<void> {
    const stored = await writeRetrying(this.#writer, this.#settings, this.runId, frames, effects, "write", () => this.#state === "executing");
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
    if (effects?.step !== undefined) this.#journal.remember(effects.step);
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
    if (entry !== undefined) this.#journal.remember(entry);
  }
}
