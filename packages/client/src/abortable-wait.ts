import { isAborted } from "./abort-signal.js";

/** The longest wait `setTimeout` supports; longer ones would fire at once. */
const MAX_TIMEOUT = 2_147_483_647;

/**
 * Waits `delay` milliseconds with `setTimeout` (so fake timers drive it in tests). Rejects with the
 * signal's reason as soon as `signal` aborts, clearing the timer.
 *
 * @example
 * ```ts
 * await waitFor(500, controller.signal); // rejects at once on controller.abort()
 * ```
 */
export function waitFor(delay: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (isAborted(signal)) {
      reject(signal?.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      },
      Math.min(delay, MAX_TIMEOUT),
    );
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
