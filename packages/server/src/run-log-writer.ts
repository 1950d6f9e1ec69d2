import { nextTurn } from "./event-loop.js";
import type { AppendEffects, FrameToAppend, RunStore } from "./store/run-store.js";

/**
 * Writes one run's frames to the store in the order they were produced. Data frames (pushed
 * synchronously, fire-and-forget) are batched: the frames pushed within one turn of the event loop
 * (and while the store is busy) go out in one `appendFrames` call. `write` appends frames that need a receipt (commit, rollback,
 * result) after everything pushed before it.
 */
export class RunLogWriter {
  readonly #store: RunStore;
  readonly #runId: string;
  readonly #epoch: number;
  #tail: Promise<void> = Promise.resolve();
  #openBatch: FrameToAppend[] | null = null;
  #failure: { error: unknown } | null = null;

  constructor(store: RunStore, runId: string, epoch: number) {
    this.#store = store;
    this.#runId = runId;
    this.#epoch = epoch;
  }

  /** The first store error, if a write failed; the run cannot go on after one. */
  get failure(): { error: unknown } | null {
    return this.#failure;
  }

  /** Queues a frame without waiting. Ordered after everything queued before it. */
  push(frame: FrameToAppend): void {
    let batch = this.#openBatch;
    if (batch === null) {
      const fresh: FrameToAppend[] = [];
      batch = fresh;
      this.#openBatch = fresh;
      this.#tail = this.#tail
        .then(nextTurn) // gather everything pushed in this turn of the event loop
        .then(() => {
          if (this.#openBatch === fresh) this.#openBatch = null;
          return this.#failure === null ? this.#append(fresh) : undefined;
        })
        .catch(() => {}); // recorded in #failure; the next write() reports it
    }
    batch.push(frame);
  }

  /** Appends frames (with atomic effects) after everything queued so far; resolves once stored. */
  write(frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<void> {
    this.#openBatch = null;
    const written = this.#tail.then(() => {
      if (this.#failure !== null) throw this.#failure.error;
      return this.#append(frames, effects);
    });
    this.#tail = written.catch(() => {});
    return written;
  }

  /** Resolves when everything queued so far is stored. */
  flush(): Promise<void> {
    return this.write([]);
  }

  async #append(frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<void> {
    if (frames.length === 0 && effects === undefined) return;
    try {
      await this.#store.appendFrames(this.#runId, this.#epoch, frames, effects);
    } catch (error) {
      this.#failure ??= { error };
      throw error;
    }
  }
}
