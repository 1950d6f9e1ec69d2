/**
 * Counts pieces of work that are under way, in place of paired `count += 1 … count -= 1` blocks:
 * `enter()` counts one and returns its release, which uncounts it exactly once however often it
 * is called (so a `finally` may release what an earlier branch released already).
 *
 * Used per step and per attempt, never per chunk: each `enter()` allocates its release function.
 */
export class InFlight {
  #count = 0;
  /** The resolver of the promise `whenIdle()` handed out, while one is pending. */
  #onIdle: (() => void) | null = null;

  /** How many entered and have not been released yet. */
  get count(): number {
    return this.#count;
  }

  /** Counts one piece of work; returns the function that ends it (idempotent). */
  enter(): () => void {
    this.#count += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#count -= 1;
      if (this.#count === 0) this.stopWaiting();
    };
  }

  /**
   * Resolves once the count is 0: at once when it is, else when the last piece of work is
   * released (or `stopWaiting()` is called). Only the latest caller's promise is kept.
   */
  whenIdle(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#onIdle = resolve));
  }

  /** Resolves the pending `whenIdle()` promise now, whatever the count (the work was abandoned). */
  stopWaiting(): void {
    const onIdle = this.#onIdle;
    this.#onIdle = null;
    onIdle?.();
  }
}
