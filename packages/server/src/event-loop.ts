const macrotask: (callback: (generation: number) => void, generation: number) => void =
  typeof setImmediate === "function"
    ? (callback, generation) => setImmediate(callback, generation)
    : (callback, generation) => setTimeout(callback, 0, generation);

/** Callbacks waiting for the next macrotask; swapped out before they run. */
let queue: (() => void)[] = [];
/** Counts the batches run: a macrotask runs the queue only if it was scheduled for this one. */
let generation = 0;
/**
 * Whether the turn that scheduled the pending macrotask is over (its microtasks have run) while
 * the macrotask has not run yet. Then the macrotask may never run: workerd drops the timers of a
 * request whose context has finished, so the next caller schedules another one (see `afterTurn`).
 */
let scheduledTurnOver = false;

function markTurnOver(): void {
  scheduledTurnOver = true;
}

function schedule(): void {
  scheduledTurnOver = false;
  macrotask(runQueue, generation);
  queueMicrotask(markTurnOver);
}

function runQueue(scheduledFor: number): void {
  // Another macrotask scheduled for this batch ran it already.
  if (scheduledFor !== generation) return;
  generation += 1;
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
 *
 * A scheduled macrotask can be dropped: in Cloudflare Workers (workerd) the timers of a request
 * whose context has finished never fire. So a call from a later turn while the batch is still
 * waiting schedules another macrotask in the caller's context; whichever runs first runs the
 * batch, the others find it gone and do nothing. Where macrotasks always run (Node, Bun, Deno),
 * that costs a spare macrotask now and then (at most one per round of microtasks that adds to a
 * waiting batch), which returns at once.
 */
export function afterTurn(callback: () => void): void {
  queue.push(callback);
  if (queue.length === 1 || scheduledTurnOver) schedule();
}

/** The promise every caller of `nextTurn` gets until the pending macrotask has run. */
let pending: Promise<void> | null = null;

/**
 * {@link afterTurn} as a promise, for async code; every caller in one turn shares one promise. A
 * caller in a later turn while the batch still waits gets a promise of its own: in workerd, a
 * promise made by a request that has finished may never settle for another request.
 */
export function nextTurn(): Promise<void> {
  if (pending === null || scheduledTurnOver) {
    const promise = new Promise<void>((resolve) =>
      afterTurn(() => {
        if (pending === promise) pending = null;
        resolve();
      }),
    );
    pending = promise;
  }
  return pending;
}
