import { InvalidOptionsError } from "@durastream/protocol";
import { toMilliseconds } from "./duration.js";
import { DurableError, describeError } from "./errors.js";
import type { Timers } from "./timers.js";

/** Validates a step timeout: milliseconds or a duration, more than 0. */
export function stepTimeoutOf(timeout: unknown, where: string): number {
  const milliseconds = toMilliseconds(timeout as string | number, `${where} timeout`);
  if (milliseconds <= 0) throw new InvalidOptionsError(`${where}: "timeout" must be more than 0 ms, got ${String(timeout)}.`);
  return milliseconds;
}

/** The error a step attempt fails with when the store lost (or may have lost) its chunks. */
export function storeFailure(stepId: string, cause: unknown): DurableError {
  return new DurableError(
    "STORE_UNAVAILABLE",
    `Step "${stepId}": the store failed to take this attempt's chunks (${describeError(cause).message}); the attempt is rolled back and retried.`,
    { cause },
  );
}

/**
 * Runs one attempt's function. With a timeout, settles (rejecting with the attempt signal's
 * reason) as soon as the attempt's controller aborts: at the timeout, or when the run's signal
 * does; the function's own promise is no longer waited for then.
 */
export function runAttempt<T>(
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
