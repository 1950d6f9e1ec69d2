const macrotask: (callback: () => void) => void =
  typeof setImmediate === "function" ? (callback) => setImmediate(callback) : (callback) => setTimeout(callback, 0);

/** The promise every caller of `nextTurn` gets until the pending macrotask has run. */
let pending: Promise<void> | null = null;

/**
 * Resolves after one macrotask, letting timers and I/O run first. The engine uses it to batch:
 * frames produced within one turn of the event loop are stored together and written to the
 * socket together, instead of paying the per-write cost for every chunk. All callers in one turn
 * share one macrotask and one promise, so a thousand streams cost one `setImmediate`, not a thousand.
 */
export function nextTurn(): Promise<void> {
  if (pending === null) {
    pending = new Promise((resolve) =>
      macrotask(() => {
        pending = null;
        resolve();
      }),
    );
  }
  return pending;
}
