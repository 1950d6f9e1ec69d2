/**
 * A sorted table of transitions over the positions of a log: entry `k` says that from position
 * `startAt(k)` on (until the next entry's start) the value is `valueAt(k)`. Values that change
 * rarely along a log (the epoch that wrote a frame, the data-payload prefix in use, the segment
 * holding a frame's text) are kept once per change instead of once per frame, and a reader finds
 * the entry of any position with one binary search.
 *
 * Starts must be pushed in increasing order.
 */
export class TransitionTable<T> {
  // Two flat arrays rather than an array of pairs: no object per entry. Most tables (a run's epochs,
  // its data-payload openings) hold one entry for life, so the first push makes arrays of exactly one
  // element rather than growing empty ones, which reserves room for 17.
  #starts: number[] = [];
  #values: T[] = [];

  /** How many transitions the table holds. */
  get length(): number {
    return this.#starts.length;
  }

  /** The value of the latest transition, or undefined when the table is empty. */
  get lastValue(): T | undefined {
    return this.#values[this.#values.length - 1];
  }

  /** Records that the value is `value` from position `start` on; `start` must exceed every earlier start. */
  push(start: number, value: T): void {
    if (this.#starts.length === 0) {
      this.#starts = [start];
      this.#values = [value];
    } else {
      this.#starts.push(start);
      this.#values.push(value);
    }
  }

  /** The first position of entry `k`. */
  startAt(k: number): number {
    return this.#starts[k]!;
  }

  /** The first position after entry `k`: the next entry's start, or `Infinity` for the last entry. */
  endAt(k: number): number {
    return k + 1 < this.#starts.length ? this.#starts[k + 1]! : Infinity;
  }

  /** The value of entry `k`. */
  valueAt(k: number): T {
    return this.#values[k]!;
  }

  /** The entry covering `position` (the last one starting at or before it), or -1 when none does. */
  indexAt(position: number): number {
    let low = 0;
    let high = this.#starts.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#starts[middle]! <= position) low = middle + 1;
      else high = middle;
    }
    return low - 1;
  }

  /**
   * The last entry for which `holds` is true, or -1 when it holds for none. `holds` must be
   * monotone over the table (true for a first run of entries, false after), as `value <= x` is for
   * values that grow along the table.
   */
  findLast(holds: (value: T, start: number) => boolean): number {
    let low = 0;
    let high = this.#starts.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (holds(this.#values[middle]!, this.#starts[middle]!)) low = middle + 1;
      else high = middle;
    }
    return low - 1;
  }
}
