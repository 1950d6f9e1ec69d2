import { emptyChunkList } from "./chunk-list.js";
import { CommittedViewState } from "./committed-view-state.js";
import type { DurableStreamResult, DurableStreamSnapshot, DurableStreamStatus } from "./durable-stream-types.js";
import { createSubscribable } from "./subscribable.js";

/** The snapshot of every store before its first run and after `reset()` (one shared object). */
const INITIAL_SNAPSHOT: DurableStreamSnapshot<never, never> = /* @__PURE__ */ Object.freeze({
  status: "idle",
  runId: null,
  resumeUrl: null,
  offset: null,
  committed: /* @__PURE__ */ emptyChunkList<never>(),
  uncommitted: /* @__PURE__ */ Object.freeze([]),
  committedText: "",
  uncommittedText: "",
  result: null,
  error: null,
});

/** The position a run starts from: nothing for a new run, the given or persisted one for a resume. */
export interface StartPosition<T> {
  readonly runId: string | null;
  readonly resumeUrl: string | null;
  /** The offset of the last frame already applied; `null` to read the run's whole log. */
  readonly offset: string | null;
  /** The chunks committed up to `offset` (ignored when `offset` is `null`). */
  readonly committed: readonly T[];
}

/**
 * What a `DurableStream` shows, and who is told when it changes: the fields of its snapshot,
 * written directly by the run that is in progress, the snapshot built from them on demand (the
 * same object until the next `changed()`), and the subscribers. Internal.
 */
export class DurableStreamState<T, R> {
  view = new CommittedViewState<T>();
  status: DurableStreamStatus = "idle";
  runId: string | null = null;
  resumeUrl: string | null = null;
  offset: string | null = null;
  result: DurableStreamResult<R> | null = null;
  error: Error | null = null;
  #snapshot: DurableStreamSnapshot<T, R> | undefined = INITIAL_SNAPSHOT;
  readonly #listeners = createSubscribable();

  /** Calls `listener` after every `changed()`; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void {
    return this.#listeners.subscribe(listener);
  }

  /** The current snapshot: built at the first call after a change, then the same object. */
  getSnapshot(): DurableStreamSnapshot<T, R> {
    return (this.#snapshot ??= this.#build());
  }

  /** Call after changing any field: drops the snapshot and notifies the subscribers. */
  changed(): void {
    this.#snapshot = undefined;
    this.#listeners.notify();
  }

  /** Sets the fields for a run starting at `position` (status `connecting`); call `changed()` after. */
  begin(position: StartPosition<T>): void {
    this.view = new CommittedViewState<T>(position.offset === null ? [] : position.committed);
    this.status = "connecting";
    this.runId = position.runId;
    this.resumeUrl = position.resumeUrl;
    this.offset = position.offset;
    this.result = null;
    this.error = null;
  }

  /** Back to the initial snapshot; notifies the subscribers unless it was that already. */
  clear(): void {
    this.view = new CommittedViewState<T>();
    this.status = "idle";
    this.runId = this.resumeUrl = this.offset = null;
    this.result = null;
    this.error = null;
    if (this.#snapshot === INITIAL_SNAPSHOT) return;
    this.#snapshot = INITIAL_SNAPSHOT;
    this.#listeners.notify();
  }

  #build(): DurableStreamSnapshot<T, R> {
    const view = this.view;
    return Object.freeze({
      status: this.status,
      runId: this.runId,
      resumeUrl: this.resumeUrl,
      offset: this.offset,
      committed: view.committed,
      uncommitted: view.uncommitted,
      committedText: view.committedText,
      uncommittedText: view.uncommittedText,
      result: this.result,
      error: this.error,
    });
  }
}
