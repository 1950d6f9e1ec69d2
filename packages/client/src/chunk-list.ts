/**
 * An immutable, append-only list view: a snapshot's lists never change after it was taken.
 * Iterable (`for…of`, spread), indexable with `at()` (negative indexes count from the end).
 *
 * @example
 * ```ts
 * const { committed } = stream.getSnapshot();
 * const last = committed.at(-1);
 * for (const chunk of committed) console.log(chunk);
 * const copy = committed.toArray(); // frozen, built once, then the same array
 * ```
 */
export interface ChunkList<T> extends Iterable<T> {
  readonly length: number;
  at(index: number): T | undefined;
  /** A plain frozen array (built once per list, then cached). */
  toArray(): readonly T[];
}

/**
 * Append-only storage that `ChunkList` views share. A view is the buffer plus a fixed length, so
 * appending never changes a view taken before, appends cost O(1) amortized, and taking a view
 * copies nothing. Items are never removed or replaced: to "empty" a list, start a new buffer.
 * Internal.
 */
export class ChunkBuffer<T> {
  readonly #items: T[];
  #view: ChunkList<T> | undefined;

  /** A buffer holding a copy of `initial`. */
  constructor(initial: Iterable<T> = []) {
    this.#items = [...initial];
  }

  get length(): number {
    return this.#items.length;
  }

  append(item: T): void {
    this.#items.push(item);
    this.#view = undefined;
  }

  /** Appends every item of `list`, in order. */
  appendAll(list: ChunkList<T>): void {
    if (list.length === 0) return;
    for (const item of list) this.#items.push(item);
    this.#view = undefined;
  }

  /** A view of the items appended so far: the same object until the next append. */
  view(): ChunkList<T> {
    return (this.#view ??= new ChunkListView(this.#items, this.#items.length));
  }
}

/** A `ChunkList` over the first `length` items of a shared append-only array. */
class ChunkListView<T> implements ChunkList<T> {
  readonly length: number;
  readonly #items: readonly T[];
  #array: readonly T[] | undefined;

  constructor(items: readonly T[], length: number) {
    this.#items = items;
    this.length = length;
    // Private fields stay writable, so freezing keeps the lazy `toArray()` cache working.
    Object.freeze(this);
  }

  at(index: number): T | undefined {
    const position = Math.trunc(index) || 0;
    const resolved = position < 0 ? this.length + position : position;
    return resolved >= 0 && resolved < this.length ? this.#items[resolved] : undefined;
  }

  toArray(): readonly T[] {
    return (this.#array ??= Object.freeze(this.#items.slice(0, this.length)));
  }

  [Symbol.iterator](): Iterator<T> {
    const items = this.#items;
    const length = this.length;
    let index = 0;
    return {
      next: (): IteratorResult<T> => (index < length ? { done: false, value: items[index++] as T } : { done: true, value: undefined }),
    };
  }
}

// What `new ChunkBuffer().view()` returns, built directly so bundlers can drop it when unused.
const EMPTY: ChunkList<never> = /* @__PURE__ */ new ChunkListView<never>([], 0);

/**
 * The empty `ChunkList` (one shared instance).
 */
export function emptyChunkList<T>(): ChunkList<T> {
  return EMPTY;
}
