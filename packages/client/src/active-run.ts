import type { ChunkList } from "./chunk-list.js";
import type { CommittedViewState } from "./committed-view-state.js";
import type { PersistedRun } from "./durable-stream-persistence.js";
import { noop } from "./durable-stream-request.js";
import type { StreamResult } from "./fetch-with-stream-options.js";
import type { RunPersistence } from "./run-persistence.js";

/**
 * Where a run may be resumed from without losing or repeating a chunk: the offset of the latest
 * frame after which no chunk was pending (`null`: the start of the log), and the committed chunks
 * as of that frame.
 */
export interface SafePoint<T> {
  readonly offset: string | null;
  readonly committed: ChunkList<T>;
}

/**
 * One stream of a `DurableStream` in progress: what `abort()` stops, what late callbacks are
 * checked against (`stopped`), and its position bookkeeping (the safe point it persists). Internal.
 */
export class ActiveRun<T> {
  readonly controller = new AbortController();
  /** Settles when the stream ended, however it ended. */
  done: Promise<void> = Promise.resolve();
  /** Set once the store let go of the run (it ended, or was aborted or reset): its callbacks do nothing. */
  stopped = false;
  /** True after a redirect frame, until the next log frame. */
  waiting = false;
  /** The result frame, once it arrived. */
  result: StreamResult | undefined = undefined;
  /** Where a reload may resume. */
  safePoint: SafePoint<T>;
  /** How the run is persisted, when the store persists. */
  persistence: RunPersistence | undefined = undefined;
  /** Stops listening to the caller's `signal`. */
  unlink: () => void = noop;

  constructor(start: SafePoint<T>) {
    this.safePoint = start;
  }

  /**
   * A commit or rollback frame at `offset` was applied to `view`: when it left no chunk pending,
   * it is the new safe point, and is saved.
   */
  settledStep(offset: string, view: CommittedViewState<T>): void {
    if (view.hasPending) return;
    this.safePoint = { offset, committed: view.committed };
    this.persistence?.save();
  }

  /** What to persist for this run, once the server named its id and resume URL. */
  persisted(runId: string | null, resumeUrl: string | null): PersistedRun<T> | undefined {
    return runId === null || resumeUrl === null
      ? undefined
      : { runId, resumeUrl, offset: this.safePoint.offset, committed: this.safePoint.committed.toArray() };
  }

  /** Lets go of the run: its callbacks do nothing from now on, and the caller's signal is unlinked. */
  stop(): void {
    this.stopped = true;
    this.unlink();
  }
}
