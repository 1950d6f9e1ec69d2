import { afterTurn } from "./event-loop.js";
import type { AppendEffects, FrameToAppend, RunStore } from "./store/run-store.js";

/**
 * Frames one batch takes at most. A source that is always ready produces frames faster than a
 * remote store appends them; without a cap, one batch would gather everything pushed while the
 * store was busy (tens of thousands of frames, one huge command).
 */
const MAX_BATCH_FRAMES = 1024;

/**
 * What one queued frame costs beyond its payload, in the units of `bufferedBytes` (UTF-16 code
 * units): the frame object, its slot in the batch. It keeps a backlog of tiny frames bounded by
 * count as well (at most `maxBufferedBytes / 64` frames).
 */
export const FRAME_OVERHEAD = 64;

/** The default of `limits.maxBufferedBytes`: 8 MiB per run. */
export const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** The promise `ready` returns while the backlog is within the bound: nothing to wait for. */
const READY: Promise<void> = Promise.resolve();

/** One queued append: a batch of pushed frames, or a `write` waiting for its receipt. */
interface Append {
  readonly frames: FrameToAppend[];
  readonly effects?: AppendEffects;
  /** What its frames count toward the writer's backlog (`bufferedBytes`). */
  bytes: number;
  /** A batch waits for the end of the turn it was opened in, to gather that turn's pushes. */
  gathering: boolean;
  readonly resolve?: () => void;
  readonly reject?: (error: unknown) => void;
  /** A `recover()` marker: clears the failure once everything queued before it has settled. */
  readonly recover?: true;
}

/**
 * Writes one run's frames to the store in the order they were produced. Data frames (pushed
 * synchronously, fire-and-forget) are batched: the frames pushed within one turn of the event loop
 * (and while the store is busy) go out in one `appendFrames` call. `write` appends frames that need
 * a receipt (commit, rollback, result) after everything pushed before it.
 *
 * An explicit queue rather than a promise chain: this is the per-chunk path, and every promise
 * costs an allocation and, with `AsyncLocalStorage` active, async-hook callbacks.
 *
 * Backpressure: `bufferedBytes` counts what is queued and not yet stored (payload length in
 * UTF-16 code units plus {@link FRAME_OVERHEAD} per frame; the append in flight included). While
 * it is above `maxBufferedBytes`, `overBound` is true and `ready()` returns a promise that
 * resolves once appends have brought it back to the bound or below. The writer never refuses a
 * frame itself: pipes wait for `ready()`, and the run refuses pushes far past the bound.
 */
export class RunLogWriter {
  readonly #store: RunStore;
  readonly #runId: string;
  readonly #epoch: number;
  readonly #queue: Append[] = [];
  #busy = false;
  #openBatch: Append | null = null;
  #failure: { error: unknown } | null = null;
  #failures = 0;
  readonly #maxBufferedBytes: number;
  #bufferedBytes = 0;
  /** While over the bound and someone asked: the promise `ready()` hands out, and its resolver. */
  #ready: Promise<void> | null = null;
  #resolveReady: (() => void) | null = null;

  constructor(store: RunStore, runId: string, epoch: number, maxBufferedBytes: number) {
    this.#store = store;
    this.#runId = runId;
    this.#epoch = epoch;
    this.#maxBufferedBytes = maxBufferedBytes;
  }

  /**
   * Queued and not yet stored: payload lengths (UTF-16 code units) plus {@link FRAME_OVERHEAD}
   * per frame, of every frame pushed or written and not yet settled (the append in flight too).
   */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** The bound `ready()` waits for. */
  get maxBufferedBytes(): number {
    return this.#maxBufferedBytes;
  }

  /** Whether the backlog is above `maxBufferedBytes`: a pipe stops pulling its source now. */
  get overBound(): boolean {
    return this.#bufferedBytes > this.#maxBufferedBytes;
  }

  /**
   * Resolves once the backlog is at or below `maxBufferedBytes`: at once (an already resolved
   * promise, nothing allocated) when it is; else when enough appends have settled (stored, failed
   * or dropped after a failure). Every caller while over the bound shares one promise.
   */
  ready(): Promise<void> {
    if (this.#bufferedBytes <= this.#maxBufferedBytes) return READY;
    return (this.#ready ??= new Promise<void>((resolve) => (this.#resolveReady = resolve)));
  }

  /**
   * The store error of the first append that failed since the last `recover()`. While it is set,
   * pushed frames are dropped and writes are rejected with it, so nothing is stored past a gap.
   */
  get failure(): { error: unknown } | null {
    return this.#failure;
  }

  /** How many appends have failed so far; a step attempt that saw this change lost frames. */
  get failures(): number {
    return this.#failures;
  }

  /**
   * Resolves once everything queued so far has settled, then clears the failure so that later
   * writes go through again (the caller rolls back what the failure may have lost).
   */
  recover(): Promise<void> {
    this.#openBatch = null;
    return new Promise((resolve) => {
      this.#queue.push({ frames: [], bytes: 0, gathering: false, resolve, recover: true });
      this.#next();
    });
  }

  /** Queues a frame without waiting. Ordered after everything queued before it. */
  push(frame: FrameToAppend): void {
    let batch = this.#openBatch;
    if (batch !== null && batch.frames.length >= MAX_BATCH_FRAMES) {
      // Full: it goes out as it is (once the batches before it have), later pushes start another.
      batch.gathering = false;
      batch = null;
      this.#openBatch = null;
      this.#next();
    }
    if (batch === null) {
      const fresh: Append = { frames: [], bytes: 0, gathering: true };
      batch = fresh;
      this.#openBatch = fresh;
      this.#queue.push(fresh);
      afterTurn(() => {
        fresh.gathering = false;
        this.#next();
      });
    }
    batch.frames.push(frame);
    const bytes = frame.payload.length + FRAME_OVERHEAD;
    batch.bytes += bytes;
    this.#bufferedBytes += bytes;
  }

  /** Appends frames (with atomic effects) after everything queued so far; resolves once stored. */
  write(frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<void> {
    this.#openBatch = null;
    let bytes = 0;
    for (const frame of frames) bytes += frame.payload.length + FRAME_OVERHEAD;
    this.#bufferedBytes += bytes;
    return new Promise((resolve, reject) => {
      this.#queue.push({ frames: frames as FrameToAppend[], effects, bytes, gathering: false, resolve, reject });
      this.#next();
    });
  }

  /** Resolves when everything queued so far is stored. */
  flush(): Promise<void> {
    return this.write([]);
  }

  /** Starts the next append unless one is in flight or the next batch is still gathering. */
  #next(): void {
    if (this.#busy) return;
    const append = this.#queue[0];
    if (append === undefined || append.gathering) return;
    this.#queue.shift();
    if (this.#openBatch === append) this.#openBatch = null; // later pushes start a new batch
    if (append.recover === true) {
      this.#failure = null;
      append.resolve?.();
      this.#next();
      return;
    }
    if (this.#failure !== null) {
      // Nothing is written past a failed append: a batch is dropped, a write gets the error.
      this.#release(append);
      append.reject?.(new SkippedWriteError(this.#failure.error));
      this.#next();
      return;
    }
    if (append.frames.length === 0 && append.effects === undefined) {
      append.resolve?.();
      this.#next();
      return;
    }
    this.#busy = true;
    let stored: Promise<unknown>;
    try {
      stored = this.#store.appendFrames(this.#runId, this.#epoch, append.frames, append.effects);
    } catch (error) {
      stored = Promise.reject(error);
    }
    stored.then(
      () => {
        this.#busy = false;
        this.#release(append);
        append.resolve?.();
        this.#next();
      },
      (error: unknown) => {
        this.#failure ??= { error };
        this.#failures += 1;
        this.#busy = false;
        this.#release(append);
        append.reject?.(error);
        this.#next();
      },
    );
  }

  /** An append has settled (or was dropped): its bytes leave the backlog; `ready()` may resolve. */
  #release(append: Append): void {
    this.#bufferedBytes -= append.bytes;
    if (this.#resolveReady !== null && this.#bufferedBytes <= this.#maxBufferedBytes) {
      const resolve = this.#resolveReady;
      this.#ready = null;
      this.#resolveReady = null;
      resolve();
    }
  }
}

/**
 * What `write` rejects with when its append was not even tried, because an earlier append of the
 * run failed since the last `recover()`: what it follows may be missing from the log.
 */
export class SkippedWriteError extends Error {
  constructor(cause: unknown) {
    super("Not written: an earlier append of this run failed.", { cause });
    this.name = "SkippedWriteError";
  }
}
