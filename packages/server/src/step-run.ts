import { InvalidOptionsError, encodeFramePayload } from "@durastream/protocol";
import { createDataPayloadEncoder } from "@durastream/protocol/internal";
import { runScopeStorage, type StepFunction, type StepOptions, type StepScope } from "./context.js";
import { DurableError, StepFailedError, describeError, isNonRetriable } from "./errors.js";
import { toJson } from "./json-data.js";
import { never } from "./never.js";
import { resolveRetryPolicy } from "./retry-policy.js";
import { SkippedWriteError } from "./run-log-writer.js";
import { runAttempt, stepTimeoutOf, storeFailure } from "./step-attempt.js";
import type { StepHost } from "./step-host.js";
import { nonDeterministic, replay } from "./step-journal.js";
import type { FrameToAppend, StepRecord } from "./store/run-store.js";
import { delay } from "./timers.js";

/**
 * `step.run` in a durable execution: replays a journaled outcome, or runs attempts of `fn` until
 * one succeeds or the retries are spent. Each attempt is on record (`running`) before it runs;
 * chunks it streams are tagged with the step; success stores the output with a commit frame, a
 * failure a rollback frame, then waits out the backoff (inline, or by suspending the run).
 */
export async function runDurableStep<T>(host: StepHost, idOrOptions: string | StepOptions, fn: StepFunction<T>): Promise<Awaited<T>> {
  const { settings, writer } = host;
  const options: StepOptions = typeof idOrOptions === "string" ? { id: idOrOptions } : idOrOptions;
  if (typeof fn !== "function") {
    throw new InvalidOptionsError(`step.run("${String(options?.id)}", fn): fn must be a function.`);
  }
  const policy =
    options.retries === undefined && options.backoff === undefined
      ? host.defaultPolicy
      : resolveRetryPolicy(`step.run("${options.id}")`, ...settings.retryPolicy, options);
  const timeout = options.timeout === undefined ? settings.stepTimeout : stepTimeoutOf(options.timeout, `step.run("${options.id}")`);
  const { hashedStepId, position, memo } = await host.enterStep(options.id, "step.run");
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
      await host.storeOrStop([], { step: { ...base, status: "failed", attempts: memo.attempts, error: describeError(error) } });
      throw new StepFailedError(id, memo.attempts, error);
    }
    // A retry whose backoff suspended the run: wait out what is left of it, then go on.
    if (memo.status === "retrying") await host.wait(hashedStepId, memo.wakeAt ?? 0, "retry");
  }
  // A log written before attempts were put on record: the takeover scan counted the attempt.
  firstAttempt = Math.max(firstAttempt, (host.interruptedAttempts.get(hashedStepId) ?? 0) + 1);
  const runSignal = host.signal;
  const encodeData = createDataPayloadEncoder(hashedStepId);
  let stopWorking = host.suspension.working.enter();
  try {
    for (let attempt = firstAttempt; ; attempt += 1) {
      if (!host.accepting()) return never();
      // The attempt is on record before it runs, so one that takes its process down still counts.
      const settleAttempt = host.attempts.enter();
      let output: string | undefined;
      let failure: { error: unknown } | undefined;
      try {
        await host.storeOrStop([], { step: { ...base, status: "running", attempts: attempt, retries: policy.retries } });
        if (!host.executing()) return never();
        const failuresBefore = writer.failures;
        const attemptController = timeout === undefined ? null : new AbortController();
        const signal = attemptController === null ? runSignal : attemptController.signal;
        const scope: StepScope = { stepId: id, hashedStepId, encodeData, active: true, signal };
        try {
          const value = await runAttempt(
            () => runScopeStorage.run({ run: host.scopeOwner, step: scope }, () => fn({ attempt, signal })),
            attemptController,
            runSignal,
            timeout,
            settings.timers,
            () => new DurableError("TIMEOUT", `Step "${id}" attempt ${attempt} did not finish within ${timeout} ms; it was stopped.`),
          );
          scope.active = false;
          output = value === undefined ? undefined : toJson(value, `The output of step "${id}"`, "INVALID_STEP_OUTPUT");
          if (writer.failures !== failuresBefore) failure = { error: storeFailure(id, writer.failure?.error) };
        } catch (error) {
          scope.active = false;
          failure = { error: runSignal.aborted ? runSignal.reason : error };
        }
        if (!host.executing()) return never();
        if (failure === undefined) {
          const entry: StepRecord = { ...base, status: "succeeded", attempts: attempt, ...(output === undefined ? {} : { output }) };
          const commit: FrameToAppend = { type: "commit", payload: encodeFramePayload({ type: "commit", hashedStepId }) };
          try {
            await host.write([commit], entry);
            return replay(entry);
          } catch (error) {
            // Skipped: chunks of the attempt may be missing from the log; roll it back. Tried and
            // failed: everything before the commit is stored, so storing the commit again is right
            // (a commit that did land and is stored twice changes nothing for clients).
            if (error instanceof SkippedWriteError) {
              failure = { error: storeFailure(id, error.cause) };
            } else {
              settings.report("write", error, host.runId);
              await writer.recover();
              await host.storeOrStop([commit], { step: entry });
              return replay(entry);
            }
          }
        }
        const { error } = failure;
        // Whatever the failure cost the log (a dropped batch) is rolled back below.
        if (writer.failure !== null) await writer.recover();
        const willRetry = attempt <= policy.retries && !isNonRetriable(error) && !runSignal.aborted;
        const wireError = describeError(error);
        const rollback: FrameToAppend = {
          type: "rollback",
          payload: encodeFramePayload({ type: "rollback", hashedStepId, attempt, willRetry, error: wireError }),
        };
        if (!willRetry) {
          await host.storeOrStop([rollback], { step: { ...base, status: "failed", attempts: attempt, error: wireError } });
          if (runSignal.aborted) throw runSignal.reason;
          throw new StepFailedError(id, attempt, error);
        }
        const backoff = policy.delayFor(attempt);
        if (backoff <= settings.maxInlineWait) {
          await host.storeOrStop([rollback], { step: { ...base, status: "retrying", attempts: attempt, error: wireError } });
          settleAttempt();
          await delay(settings.timers, backoff, runSignal);
          continue;
        }
        // A long backoff: store the attempt count and when to try again, then suspend.
        const wakeAt = settings.timers.now() + backoff;
        await host.storeOrStop([rollback], { step: { ...base, status: "retrying", attempts: attempt, error: wireError, wakeAt } });
        settleAttempt();
        // Waiting out the backoff is no work: the run may suspend meanwhile.
        stopWorking();
        try {
          await host.wait(hashedStepId, wakeAt, "retry");
        } finally {
          stopWorking = host.suspension.working.enter();
        }
      } finally {
        settleAttempt();
      }
    }
  } finally {
    stopWorking();
    host.suspension.scheduleCheck();
  }
}
