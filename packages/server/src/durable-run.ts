import { encodeDataPayload, encodeFramePayload, hashStepId, snapshotResponse, type ResponseSnapshot } from "@durastream/protocol";
import {
  runScopeStorage,
  step as stepTools,
  stream as streamTools,
  type PipeSource,
  type RunScopeOwner,
  type StepFunction,
  type StepOptions,
  type StepScope,
  type StepTools,
  type StreamTools,
} from "./context.js";
import { DurableError, StepFailedError, describeError, isNonRetriable } from "./errors.js";
import { toJson } from "./json-data.js";
import { resolveRetryPolicy, type RetryPolicy } from "./retry-policy.js";
import { RunLogWriter } from "./run-log-writer.js";
import type { FrameToAppend, RunStore, StepRecord } from "./store/run-store.js";
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
  /** Aborts when the run is cancelled (its client went away). */
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

interface RunSettings {
  readonly store: RunStore;
  readonly timers: Timers;
  readonly retryPolicy: readonly (RetryPolicy | undefined)[];
  readonly where: string;
}

/**
 * One execution of a durable handler: runs it inside the AsyncLocalStorage scope that `step` and
 * `stream` read, writes its frames to the run's log in order, and records its outcome.
 */
export class DurableRun implements RunScopeOwner {
  readonly runId: string;
  readonly #settings: RunSettings;
  readonly #writer: RunLogWriter;
  readonly #controller = new AbortController();
  readonly #journal = new Map<string, StepRecord>();
  readonly #occurrences = new Map<string, number>();
  readonly #defaultPolicy;
  #uncommittedOutside = 0;
  #over = false;

  constructor(runId: string, settings: RunSettings, journal: readonly StepRecord[] = []) {
    this.runId = runId;
    this.#settings = settings;
    this.#writer = new RunLogWriter(settings.store, runId);
    this.#defaultPolicy = resolveRetryPolicy(settings.where, ...settings.retryPolicy);
    for (const record of journal) this.#journal.set(record.hashedStepId, record);
  }

  /** Aborts when the run is cancelled. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Cancels the run: pipes stop and cancel their sources, steps stop retrying, the run fails. */
  cancel(reason: string): void {
    if (this.#over || this.#controller.signal.aborted) return;
    this.#controller.abort(new DurableError("RUN_CANCELLED", reason));
  }

  /**
   * Runs the handler and resolves with its outcome as soon as it settles. Storing the outcome (the
   * result frame, after a final commit of chunks streamed outside steps) goes on in `finished`.
   * With `keepBody`, the outcome's Response body stays readable (the snapshot reads a clone).
   * Never rejects.
   */
  async execute(handler: DurableHandler, request: Request, keepBody: boolean): Promise<RunOutcome> {
    const context: DurableContext = {
      runId: this.runId,
      step: stepTools,
      stream: streamTools,
      signal: this.#controller.signal,
    };
    let outcome: RunOutcome;
    try {
      const value = await runScopeStorage.run({ run: this, step: null }, () => handler(request, context));
      outcome = { status: "succeeded", response: value instanceof Response ? value : toJsonResponse(value) };
    } catch (error) {
      outcome = { status: "failed", response: failureResponse(error) };
    }
    this.#over = true;
    this.finished = this.#finish(outcome, keepBody);
    return outcome;
  }

  /** Settles when the run's outcome is in the store (or the store refused it). */
  finished: Promise<void> = Promise.resolve();

  async #finish(outcome: RunOutcome, keepBody: boolean): Promise<void> {
    let { status } = outcome;
    let snapshot: ResponseSnapshot;
    try {
      snapshot = await snapshotResponse(keepBody ? outcome.response.clone() : outcome.response);
    } catch (error) {
      status = "failed";
      snapshot = await snapshotResponse(failureResponse(error));
    }
    const frames = this.#takeOutsideCommit();
    frames.push({ type: "result", payload: encodeFramePayload({ type: "result", status, response: snapshot }) });
    try {
      await this.#writer.write(frames, { finish: { status, response: snapshot } });
    } catch {
      // The store refused the result (a write failed earlier, or the store is gone): readers see
      // the log end without one, which clients report as an interrupted stream.
    }
  }

  push(step: StepScope | null, data: unknown): void {
    if (this.#over || (step !== null && !step.active)) return;
    this.#emit(step, toJson(data, "stream.push(data): data", "INVALID_STREAM_DATA"));
  }

  pipe(step: StepScope | null, source: PipeSource): Promise<string> {
    return pipeSource(source, this.#controller.signal, (text) => {
      if (this.#over || (step !== null && !step.active)) return;
      this.#emit(step, JSON.stringify(text));
    });
  }

  async runStep<T>(idOrOptions: string | StepOptions, fn: StepFunction<T>): Promise<Awaited<T>> {
    const options: StepOptions = typeof idOrOptions === "string" ? { id: idOrOptions } : idOrOptions;
    const { id } = options;
    if (typeof id !== "string" || id === "") {
      throw new DurableError("INVALID_OPTIONS", 'step.run(id, fn): id must be a non-empty string, e.g. step.run("fetch-user", fn).');
    }
    if (typeof fn !== "function") {
      throw new DurableError("INVALID_OPTIONS", `step.run("${id}", fn): fn must be a function.`);
    }
    const repeat = this.#occurrences.get(id) ?? 0;
    this.#occurrences.set(id, repeat + 1);
    const policy =
      options.retries === undefined && options.backoff === undefined
        ? this.#defaultPolicy
        : resolveRetryPolicy(`step.run("${id}")`, ...this.#settings.retryPolicy, options);
    // Chunks pushed outside steps before this boundary are final now.
    const outsideCommit = this.#takeOutsideCommit();
    if (outsideCommit.length > 0) this.#writer.push(outsideCommit[0]!);

    const hashedStepId = await hashStepId(id, repeat);
    const memo = this.#journal.get(hashedStepId);
    if (memo !== undefined) return replay(memo);

    const signal = this.#controller.signal;
    for (let attempt = 1; ; attempt += 1) {
      const scope: StepScope = { hashedStepId, active: true };
      let output: string | undefined;
      let failure: { error: unknown } | undefined;
      try {
        const value = await runScopeStorage.run({ run: this, step: scope }, () => fn({ attempt, signal }));
        scope.active = false;
        output = value === undefined ? undefined : toJson(value, `The output of step "${id}"`, "INVALID_STEP_OUTPUT");
      } catch (error) {
        scope.active = false;
        failure = { error: signal.aborted ? signal.reason : error };
      }
      if (failure === undefined) {
        const record: StepRecord = { hashedStepId, stepId: id, status: "succeeded", attempts: attempt, ...(output === undefined ? {} : { output }) };
        await this.#writer.write([{ type: "commit", payload: encodeFramePayload({ type: "commit", hashedStepId }) }], { step: record });
        this.#journal.set(hashedStepId, record);
        return replay(record);
      }
      const { error } = failure;
      const willRetry = attempt <= policy.retries && !isNonRetriable(error) && !signal.aborted;
      const wireError = describeError(error);
      const rollback = {
        type: "rollback" as const,
        payload: encodeFramePayload({ type: "rollback", hashedStepId, attempt, willRetry, error: wireError }),
      };
      if (!willRetry) {
        const record: StepRecord = { hashedStepId, stepId: id, status: "failed", attempts: attempt, error: wireError };
        await this.#writer.write([rollback], { step: record });
        this.#journal.set(hashedStepId, record);
        if (signal.aborted) throw signal.reason;
        throw new StepFailedError(id, attempt, error);
      }
      await this.#writer.write([rollback]);
      await delay(this.#settings.timers, policy.delayFor(attempt), signal);
    }
  }

  #emit(step: StepScope | null, json: string): void {
    if (step === null) this.#uncommittedOutside += 1;
    this.#writer.push({ type: "data", payload: encodeDataPayload(step === null ? null : step.hashedStepId, json) });
  }

  #takeOutsideCommit(): FrameToAppend[] {
    if (this.#uncommittedOutside === 0) return [];
    this.#uncommittedOutside = 0;
    return [{ type: "commit", payload: encodeFramePayload({ type: "commit", hashedStepId: null }) }];
  }
}

function replay<T>(record: StepRecord): Awaited<T> {
  if (record.status === "failed") {
    const error = new Error(record.error?.message ?? "Step failed");
    error.name = record.error?.name ?? "Error";
    throw new StepFailedError(record.stepId, record.attempts, error);
  }
  return (record.output === undefined ? undefined : JSON.parse(record.output)) as Awaited<T>;
}

function toJsonResponse(value: unknown): Response {
  return new Response(value === undefined ? "null" : toJson(value, "The handler's return value", "INVALID_STEP_OUTPUT"), {
    status: 200,
    headers: { "content-type": "application/json" },
  });
}

function failureResponse(error: unknown): Response {
  return new Response(describeError(error).message, {
    status: 500,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
