import type { LogFrameType, Offset } from "@durastream/protocol";
import { dataPayloadPrefixLength } from "@durastream/protocol/internal";
import { StoreRefusedError } from "../errors.js";
import type { LogEntry } from "./run-store.js";
import { TransitionTable } from "./transition-table.js";

/*
 * Each frame is one 32-bit word: its type code in the top 3 bits and, in the low 29, where its text
 * ends in its segment (V8 strings hold fewer than 2^29 code units, so a segment never needs more).
 */
const TYPE_SHIFT = 29;
const END_MASK = 2 ** TYPE_SHIFT - 1;

const DATA = 0;
/** A data frame stored without the run's current `{"step":…,"data":` opening and closing `}`. */
const DATA_PREFIXED = 1;
const COMMIT = 2;
const ROLLBACK = 3;
const RESULT = 4;
/** A type outside `LogFrameType` (only untyped callers write one), kept in a side table. */
const OTHER = 5;
const TYPE_NAMES: readonly LogFrameType[] = ["data", "data", "commit", "rollback", "result"];

/**
 * Pending texts are joined into one flat segment string every `SEGMENT_FRAMES` frames or
 * `SEGMENT_CHARS` code units. Until then each pending text is a slice that keeps its whole original
 * payload alive (about 100 bytes more than the text for a small chunk), so small batches bound that
 * cost, while a segment's own overhead (string header, table entry: about 40 bytes) is shared by its
 * frames. Few frames per segment also means few young objects per stream for each scavenge to copy.
 */
const SEGMENT_FRAMES = 4;
const SEGMENT_CHARS = 4096;

const INITIAL_CAPACITY = 16;

/**
 * A run's frame log, stored compactly: no object per frame. Per frame it keeps one 32-bit word
 * (type and text end) and the payload text inside flat segment strings; offsets are not stored but
 * derived, since the sequence of the frame at index `i` is `i + 1` and epochs change rarely (a table
 * of epoch transitions gives each frame's). Data payloads that start like the previous data frame's
 * (`{"step":"<id>","data":`, as `createDataPayloadEncoder` writes them) are stored without that
 * opening and the closing `}`, and rebuilt on read, byte for byte.
 *
 * Appending costs O(1) amortized per frame (plus the payload's length); reading a window of `limit`
 * frames costs O(limit + log n).
 */
export class FrameLog {
  #words = new Uint32Array(INITIAL_CAPACITY);
  #length = 0;
  /** Frame index → epoch that wrote it. */
  readonly #epochs = new TransitionTable<number>();
  /** Frame index → the opening that `DATA_PREFIXED` frames from there on share. */
  readonly #prefixes = new TransitionTable<string>();
  /** The opening of the latest `DATA_PREFIXED` frame ("" before the first). */
  #prefix = "";
  /**
   * Every opening seen, so that steps taking turns share one string each (keys are flat copies).
   * Made when a second opening appears: until then the only one is `#prefix`.
   */
  #openings: Map<string, string> | undefined;
  /** Frame index → the segment string holding the texts of the frames from there on. */
  readonly #segments = new TransitionTable<string>();
  /** Frames whose text is in a segment; the texts of the later ones are in `#pending`. */
  #flushed = 0;
  readonly #pending: string[] = [];
  #pendingChars = 0;
  #otherTypes: Map<number, string> | undefined;

  /** How many frames the log holds; the last one's sequence. */
  get length(): number {
    return this.#length;
  }

  /**
   * Appends a frame written in `epoch`; its offset is `${epoch}-${length}` after the call. Epochs
   * must not decrease along the log (the store fences older executors before they get here).
   */
  append(epoch: number, type: LogFrameType, payload: string): void {
    const index = this.#length;
    const lastEpoch = this.#epochs.lastValue;
    if (lastEpoch === undefined || epoch > lastEpoch) this.#epochs.push(index, epoch);
    else if (epoch < lastEpoch) {
      throw new StoreRefusedError("fenced", undefined, { message: `FrameLog: a frame of epoch ${epoch} cannot follow frames of epoch ${lastEpoch}.` });
    }
    let code = typeCode(type);
    let text = payload;
    if (code === DATA) {
      const prefix = this.#openingOf(payload, index);
      if (prefix !== undefined) {
        code = DATA_PREFIXED;
        text = payload.slice(prefix.length, payload.length - 1);
      }
    } else if (code === OTHER) {
      (this.#otherTypes ??= new Map()).set(index, type);
    }
    // A large text starts a segment of its own, so segments of several frames stay small and no
    // segment outgrows the 29 bits of a word's text end.
    if (this.#pending.length > 0 && this.#pendingChars + text.length > SEGMENT_CHARS) this.#flush();
    this.#pending.push(text);
    this.#pendingChars += text.length;
    if (index === this.#words.length) this.#grow();
    this.#words[index] = (code << TYPE_SHIFT) | this.#pendingChars;
    this.#length = index + 1;
    if (this.#pending.length >= SEGMENT_FRAMES || this.#pendingChars >= SEGMENT_CHARS) this.#flush();
  }

  /**
   * Up to `limit` frames strictly after `after` in (epoch, sequence) order, as `readFrames` returns
   * them, stopping after the frame with which the payloads reach `maxBytes` (UTF-16 code units; at
   * least one frame). `after` may be any offset, also one of another epoch that this log never stored.
   */
  read(after: Offset, limit: number, maxBytes = Number.POSITIVE_INFINITY): LogEntry[] {
    const start = this.#firstIndexAfter(after);
    if (start >= this.#length) return [];
    const end = sliceEnd(start + limit, this.#length);
    const entries: LogEntry[] = [];
    if (start >= end) return entries;
    const words = this.#words;
    let epochAt = this.#epochs.indexAt(start);
    let epochEnd = this.#epochs.endAt(epochAt);
    let epoch = this.#epochs.valueAt(epochAt);
    let prefixAt = this.#prefixes.indexAt(start);
    let prefixEnd = this.#prefixes.endAt(prefixAt);
    let segmentAt = this.#segments.indexAt(start);
    let segmentEnd = this.#segments.endAt(segmentAt);
    let bytes = 0;
    for (let index = start; index < end && (index === start || bytes < maxBytes); index += 1) {
      if (index >= epochEnd) {
        epochAt += 1;
        epochEnd = this.#epochs.endAt(epochAt);
        epoch = this.#epochs.valueAt(epochAt);
      }
      if (index >= prefixEnd) {
        prefixAt += 1;
        prefixEnd = this.#prefixes.endAt(prefixAt);
      }
      if (index >= segmentEnd) {
        segmentAt += 1;
        segmentEnd = this.#segments.endAt(segmentAt);
      }
      const word = words[index]!;
      const code = word >>> TYPE_SHIFT;
      let text: string;
      if (index >= this.#flushed) {
        text = this.#pending[index - this.#flushed]!;
      } else {
        const begin = index === this.#segments.startAt(segmentAt) ? 0 : words[index - 1]! & END_MASK;
        text = this.#segments.valueAt(segmentAt).slice(begin, word & END_MASK);
      }
      const payload = code === DATA_PREFIXED ? `${this.#prefixes.valueAt(prefixAt)}${text}}` : text;
      bytes += payload.length;
      entries.push({
        type: code === OTHER ? (this.#otherTypes!.get(index) as LogFrameType) : TYPE_NAMES[code]!,
        payload,
        offset: `${epoch}-${index + 1}`,
      });
    }
    return entries;
  }

  /**
   * The opening `payload` shares with other data frames, or undefined to store it whole. Checks the
   * current opening first; only when it does not match is the payload searched for a new one.
   */
  #openingOf(payload: string, index: number): string | undefined {
    const current = this.#prefix;
    if (current !== "" && payload.startsWith(current) && payload.charCodeAt(payload.length - 1) === 0x7d) return current;
    const length = dataPayloadPrefixLength(payload);
    if (length < 0) return undefined;
    const found = payload.slice(0, length);
    if (this.#openings === undefined && current !== "") this.#openings = new Map([[current, current]]);
    let opening = this.#openings?.get(found);
    if (opening === undefined) {
      // A slice keeps its whole source payload alive; a copy through JSON is a string of its own.
      opening = JSON.parse(JSON.stringify(found)) as string;
      this.#openings?.set(opening, opening);
    }
    this.#prefix = opening;
    this.#prefixes.push(index, opening);
    return opening;
  }

  /** Joins the pending texts into one flat segment string, which frees the payloads they were cut from. */
  #flush(): void {
    this.#segments.push(this.#flushed, this.#pending.join(""));
    this.#flushed += this.#pending.length;
    this.#pending.length = 0;
    this.#pendingChars = 0;
  }

  #grow(): void {
    const words = new Uint32Array(this.#words.length + (this.#words.length >>> 1) + INITIAL_CAPACITY);
    words.set(this.#words);
    this.#words = words;
  }

  /** Index of the first frame strictly after `after`; frame `i` has sequence `i + 1`. */
  #firstIndexAfter(after: Offset): number {
    const epochs = this.#epochs;
    const at = epochs.findLast((epoch) => epoch <= after.epoch);
    if (at < 0) return 0;
    const end = Math.min(epochs.endAt(at), this.#length);
    // Every frame of an earlier epoch sorts before `after`.
    if (epochs.valueAt(at) < after.epoch) return end;
    return Math.min(Math.max(after.sequence, epochs.startAt(at)), end);
  }
}

function typeCode(type: string): number {
  switch (type) {
    case "data":
      return DATA;
    case "commit":
      return COMMIT;
    case "rollback":
      return ROLLBACK;
    case "result":
      return RESULT;
    default:
      return OTHER;
  }
}

/** Where `Array.prototype.slice` would stop for `relativeEnd`, so reads with any `limit` behave as before. */
function sliceEnd(relativeEnd: number, length: number): number {
  const end = Number.isNaN(relativeEnd) ? 0 : Math.trunc(relativeEnd);
  return end < 0 ? Math.max(length + end, 0) : Math.min(end, length);
}
