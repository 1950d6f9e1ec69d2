/**
 * The clock and timers the engine uses for backoff and keep-alives. Tests inject their own so
 * nothing waits on the wall clock.
 */
export interface Timers {
  now(): number;
  setTimeout(callback: () => void, milliseconds: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The longest delay platform timers take; longer ones fire at once (Node, browsers). */
const MAX_PLATFORM_DELAY = 2_147_483_647;

/** A timer longer than the platform allows: it waits in chained parts. */
class LongTimer {
  #handle: ReturnType<typeof setTimeout> | undefined;
  #unref = false;

  constructor(callback: () => void, milliseconds: number) {
    const due = Date.now() + milliseconds;
    const arm = (wait: number) => {
      this.#handle = setTimeout(
        () => {
          const left = due - Date.now();
          if (left > 0) arm(left);
          else callback();
        },
        Math.min(wait, MAX_PLATFORM_DELAY),
      );
      if (this.#unref) unrefTimer(this.#handle);
    };
    arm(milliseconds);
  }

  unref(): void {
    this.#unref = true;
    unrefTimer(this.#handle);
  }

  clear(): void {
    clearTimeout(this.#handle);
  }
}

/** The platform's clock and timers (delays past the platform's 24.8-day limit are chained). */
export const systemTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (callback, milliseconds) => (milliseconds > MAX_PLATFORM_DELAY ? new LongTimer(callback, milliseconds) : setTimeout(callback, milliseconds)),
  clearTimeout: (handle) => {
    if (handle instanceof LongTimer) handle.clear();
    else clearTimeout(handle as Parameters<typeof clearTimeout>[0]);
  },
};

/** Lets a timer not keep the process alive, where the runtime supports it (Node, Bun, Deno). */
export function unrefTimer(handle: unknown): void {
  (handle as { unref?: () => void } | null)?.unref?.();
}

/** Resolves after `milliseconds`, or rejects with the signal's reason when it aborts first. */
export function delay(timers: Timers, milliseconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    if (milliseconds <= 0) {
      resolve();
      return;
    }
    const onAbort = () => {
      timers.clearTimeout(handle);
      reject(signal?.reason);
    };
    const handle = timers.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, milliseconds);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
