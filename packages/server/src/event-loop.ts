const macrotask: (callback: () => void) => void =
  typeof setImmediate === "function" ? (callback) => setImmediate(callback) : (callback) => setTimeout(callback, 0);

/**
 * Resolves after one macrotask, letting timers and I/O run first. The engine uses it to batch:
 * frames produced within one turn of the event loop are stored together and written to the
 * socket together, instead of paying the per-write cost for every chunk.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => macrotask(resolve));
}
