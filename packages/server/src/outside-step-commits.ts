import { encodeFramePayload } from "@durastream/protocol";
import type { FrameToAppend } from "./store/run-store.js";

/**
 * Commit accounting of the chunks a run pushes outside steps. They have no step commit of their
 * own: they become final with an outside-step commit frame (`hashedStepId: null`), written at the
 * next step boundary, suspension or result. The run record keeps how many are committed
 * (`outsideCommitted`), so a replay, which pushes them again, skips those the log already has.
 */
export class OutsideStepCommits {
  /** Outside-step pushes made by this execution. */
  #pushed = 0;
  /** How many of them the log already has committed. */
  #committed: number;
  /** Pushes stored (or queued) since the last commit frame. */
  #uncommitted = 0;

  constructor(committed: number) {
    this.#committed = committed;
  }

  /**
   * Counts one outside-step push; false when the log has it committed from an earlier execution
   * (replayed outside-step chunks are not sent again).
   */
  admit(): boolean {
    this.#pushed += 1;
    if (this.#pushed <= this.#committed) return false;
    this.#uncommitted += 1;
    return true;
  }

  /**
   * Adds the outside-step commit frame to `frames` when one is due; returns the new committed
   * count (for the append's `outsideCommitted` effect), or undefined when nothing is due.
   */
  take(frames: FrameToAppend[]): number | undefined {
    if (this.#uncommitted === 0) return undefined;
    this.#uncommitted = 0;
    this.#committed = this.#pushed;
    frames.push({ type: "commit", payload: encodeFramePayload({ type: "commit", hashedStepId: null }) });
    return this.#pushed;
  }

  /** The state before a `take`, to `restore` if the append carrying its commit failed. */
  mark(): { readonly uncommitted: number; readonly committed: number } {
    return { uncommitted: this.#uncommitted, committed: this.#committed };
  }

  /** Undoes the `take`s since `mark()`: their commit frame was not stored. */
  restore(mark: { readonly uncommitted: number; readonly committed: number }): void {
    this.#uncommitted = mark.uncommitted;
    this.#committed = mark.committed;
  }
}
