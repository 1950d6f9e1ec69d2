const macrotask: (callback: () => void) => void =
  typeof setImmediate === "function" ? (callback) => setImmediate(callback) : (callback) => setTimeout(callback, 0);

/** Callbacks waiting for the next macrotask; swapped out before they run. */
let queue: (() => void)[] = [];

function runQueue(): void {
  const callbacks = queue;
  queue = [];
  for (const callback of callbacks) {
    try {
      callback();
    } catch (error) {
      // One failing callback must not keep the others from running; the error still surfaces.
      queueMicrotask(() => {
        throw error;
      });
    }
  }
}

/**
 * Calls `callback` after one macrotask, letting timers and I/O run first. The engine uses it to
 * batch: frames produced within one turn of the event loop are stored together and written to the
 * socket together, instead of paying the per-write cost for every chunk. All callbacks queued in
 * one turn share one macrotask, so a thousand streams cost one `setImmediate`, not a thousand, and
 * no promise is made per callback. A callback queued while the batch runs waits for the next turn.
 */
export function afterTurn(callback: () => void): void {
  queue.push(callback);
  if (queue.length === 1) macrotask(runQueue);
}

/** The promise every caller of `nextTurn` gets until the pending macrotask has run. */
let pending: Promise<void> | null = null;

/** {@link afterTurn} as a promise, for async code; every caller in one turn shares one promise. */
export function nextTurn(): Promise<void> {
  if (pending === null) {
    pending = new Promise((resolve) =>
      afterTurn(() => {
        pending = null;
        resolve();
      }),
    );
  }
  return pending;
}
