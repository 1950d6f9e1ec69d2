/** Pieces gathered before they are joined into one flat string. */
const PIECES_PER_BLOCK = 8;

/**
 * Collects text pieces (a pipe's chunks) for one final concatenation, in little memory: every
 * `PIECES_PER_BLOCK` (8) pieces are joined into one flat string, so a long stream of small chunks is not kept as
 * thousands of separate strings. Appends are O(1) amortized; nothing is re-joined twice.
 */
export class TextAccumulator {
  readonly #blocks: string[] = [];
  #pieces: string[] = [];

  /** Adds `text` at the end. */
  add(text: string): void {
    const pieces = this.#pieces;
    pieces.push(text);
    if (pieces.length === PIECES_PER_BLOCK) {
      this.#blocks.push(pieces.join(""));
      this.#pieces = [];
    }
  }

  /** Everything added so far, in order. */
  text(): string {
    return this.#blocks.join("") + this.#pieces.join("");
  }
}
