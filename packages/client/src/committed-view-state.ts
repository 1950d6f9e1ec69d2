import type { HashedStepId } from "@durastream/protocol";
import { ChunkBuffer, type ChunkList } from "./chunk-list.js";
import type { UncommittedStep } from "./durable-stream-types.js";

/** One step's uncommitted chunks: a buffer of its own, replaced (never emptied) on commit or rollback. */
interface StepBuffer<T> {
  readonly hashedStepId: HashedStepId;
  readonly chunks: ChunkBuffer<T>;
  text: string;
  /** The `UncommittedStep` for the current chunks, built on demand; cleared on append. */
  snapshot: UncommittedStep<T> | undefined;
}

/**
 * The committed view of PROTOCOL.md ("The committed view"), kept incrementally:
 *
 * 1. `data`: append the chunk to its step's buffer;
 * 2. `commit`: append the step's buffer to the committed list, and drop the buffer;
 * 3. `rollback`: drop the step's buffer.
 *
 * Appending costs O(1) amortized, a commit moves each of its chunks once, and reading the lists
 * costs O(number of uncommitted steps), never O(number of chunks): the lists are `ChunkList` views
 * over append-only buffers, and the texts are concatenated as chunks arrive. Internal.
 */
export class CommittedViewState<T> {
  #committed: ChunkBuffer<T>;
  #committedText: string;
  /** Steps with uncommitted chunks, in the order of their first uncommitted chunk (Map order). */
  readonly #steps = new Map<HashedStepId, StepBuffer<T>>();
  #uncommitted: readonly UncommittedStep<T>[] | undefined;
  #uncommittedText: string | undefined;

  /** A view whose committed list starts as `committed` (e.g. restored from persisted state). */
  constructor(committed: readonly T[] = []) {
    this.#committed = new ChunkBuffer(committed);
    this.#committedText = textOf(committed);
  }

  /** Appends `chunk` to the uncommitted chunks of `hashedStepId`. */
  data(hashedStepId: HashedStepId, chunk: T): void {
    let step = this.#steps.get(hashedStepId);
    if (step === undefined) {
      step = { hashedStepId, chunks: new ChunkBuffer<T>(), text: "", snapshot: undefined };
      this.#steps.set(hashedStepId, step);
    }
    step.chunks.append(chunk);
    if (typeof chunk === "string") step.text += chunk;
    step.snapshot = undefined;
    this.#uncommittedChanged();
  }

  /** Moves the uncommitted chunks of `hashedStepId` to the committed list, in order. */
  commit(hashedStepId: HashedStepId): void {
    const step = this.#steps.get(hashedStepId);
    if (step === undefined) return;
    this.#steps.delete(hashedStepId);
    this.#uncommittedChanged();
    this.#committed.appendAll(step.chunks.view());
    this.#committedText += step.text;
  }

  /** Drops the uncommitted chunks of `hashedStepId`. */
  rollback(hashedStepId: HashedStepId): void {
    if (this.#steps.delete(hashedStepId)) this.#uncommittedChanged();
  }

  /** Whether any step has uncommitted chunks. */
  get hasPending(): boolean {
    return this.#steps.size > 0;
  }

  /** The committed chunks: the same list until the next commit that moves chunks. */
  get committed(): ChunkList<T> {
    return this.#committed.view();
  }

  /** The string chunks of the committed list, concatenated. */
  get committedText(): string {
    return this.#committedText;
  }

  /**
   * The steps with uncommitted chunks (frozen): the same array until a chunk is added, committed or
   * rolled back; an unchanged step keeps its `UncommittedStep` object.
   */
  get uncommitted(): readonly UncommittedStep<T>[] {
    return (this.#uncommitted ??= this.#buildUncommitted());
  }

  /** The string chunks of `uncommitted`, in its order, concatenated. */
  get uncommittedText(): string {
    if (this.#uncommittedText === undefined) {
      let text = "";
      for (const step of this.#steps.values()) text += step.text;
      this.#uncommittedText = text;
    }
    return this.#uncommittedText;
  }

  #buildUncommitted(): readonly UncommittedStep<T>[] {
    const steps: UncommittedStep<T>[] = [];
    for (const step of this.#steps.values()) {
      step.snapshot ??= Object.freeze({ hashedStepId: step.hashedStepId, chunks: step.chunks.view(), text: step.text });
      steps.push(step.snapshot);
    }
    return Object.freeze(steps);
  }

  #uncommittedChanged(): void {
    this.#uncommitted = undefined;
    this.#uncommittedText = undefined;
  }
}

/**
 * The string chunks of `chunks`, concatenated.
 */
export function textOf(chunks: Iterable<unknown>): string {
  let text = "";
  for (const chunk of chunks) if (typeof chunk === "string") text += chunk;
  return text;
}
