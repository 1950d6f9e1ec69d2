/*
 * The shared tail: one store read per append per process, whatever the number of local tailers.
 *
 * Every live SSE connection of a run (the endpoint's own and the wait endpoint's) tails the run's
 * log. Reading the store once per tailer and append made N tailers of one run cost N reads and N
 * encodings of the same frames per append (1,000 tailers took a full core). Instead, `RunTails` (one
 * per `createDurable`, carried by its `LiveStreams`) keeps one `RunTail` per run with local tailers,
 * holding the run's ONE store subscription. Each tailer registered with it is in one of two states:
 *
 * - a reader (behind: resuming from an older offset, or back from a full sink): it reads the store
 *   on its own, from its own offset, and the tail forwards it the append notifications. Once a read
 *   finds nothing more (it is caught up) it asks to `join`;
 * - a member (caught up): it does not read. After each notification the tail reads the frames after
 *   its cursor once (the same microtask batching as a single tailer had), encodes them as SSE text
 *   once, and hands that batch to every member. A member's sink may answer "full" after taking a
 *   batch (a Web stream does after every piece); if it has drained by the next batch, nothing
 *   happened. If it is still full then (a slow client), the member does not take the batch: it
 *   `leave`s the fan-out and, as a reader again, reads the store from its own offset once its sink
 *   drains. So the tail never queues anything per member (at most the one batch a full sink took,
 *   as before), and a slow client holds back only its own reads and does not stall the others.
 *
 * Joining: a tailer joins when its offset is at or past the tail's cursor (the offset the next
 * shared read starts after). A tail without members and without a read under way simply takes the
 * joiner's offset as its cursor. A member that joined ahead of the tail's cursor (its own read saw
 * frames the tail's next read will return too) gets only the frames after its offset. A joiner
 * behind the cursor reads the store again first. A tailer that resumed after an offset joins only
 * once it has received a frame, so an offset at or past the end of a finished run is still checked
 * by its own reads (log-stream.ts, `checkEnded`). A failed shared read drops every member back to
 * reading on its own, which retries with backoff and reports as a single connection does. Members
 * that leave to redirect (maxDuration, a switch to the background, shutdown) read the rest on their
 * own first, as before.
 *
 * The tail of a run unsubscribes and is forgotten when its last tailer closes; a read still under
 * way then lands nowhere.
 */
import { compareOffsets, parseOffset, START_OFFSET, type Offset } from "@durastream/protocol";
import { encodeEvent } from "@durastream/protocol/internal";
import type { LogEntry, RunStore } from "./store/run-store.js";

/** Frames per read of a log; bounds the size of one response chunk. */
export const READ_BATCH = 512;

/**
 * Payload code units per read of a log (4 MiB; a read returns at least one frame, whatever its
 * size): with `READ_BATCH`, bounds the text one read builds well below V8's string limit.
 */
export const READ_MAX_BYTES = 4 * 1024 * 1024;

/** One shared read, as the members of a tail get it. */
export interface TailBatch {
  /** The offset the read started after: the tail's cursor (undefined: the start of the log). */
  readonly after: string | undefined;
  readonly entries: readonly LogEntry[];
  /** The entries as SSE events, up to and including a result frame: encoded once for all members. */
  readonly text: string;
  /** The offset of the last entry in `text`. */
  readonly last: string;
  /** Whether `text` ends with the run's result frame (nothing follows). */
  readonly ended: boolean;
}

/** A tailer as its run's tail calls it. */
export interface Tailer {
  /** Frames were appended to the log. Called while the tailer is a reader (not a member). */
  appended(): void;
  /** New frames, for a member. The member may `leave` (or close) from inside the call. */
  deliver(batch: TailBatch): void;
  /** The shared read failed: the member is a reader again and handles `error` as its own read's. */
  failed(error: unknown): void;
}

/** A tailer's registration with its run's tail. */
export interface TailMembership {
  /**
   * Joins the fan-out, when `cursor` (the offset of the last frame the tailer sent; undefined when
   * none and it read from the start) is at or past the tail's cursor: returns true, and the tailer
   * gets `deliver` calls instead of `appended`. False: the tail has read further; read on your own.
   */
  join(cursor: string | undefined): boolean;
  /** Leaves the fan-out, to read on its own again (its sink is full, or it must redirect). */
  leave(): void;
  /** Unregisters for good; the last tailer of a run to go drops its tail and subscription. */
  close(): void;
}

/**
 * The live tails of one process's runs, keyed by run id; see the module comment. One per
 * `createDurable` (its `LiveStreams` carries it) and store: every log stream given this registry
 * must read `store`.
 */
export class RunTails {
  readonly store: RunStore;
  readonly #tails = new Map<string, RunTail>();

  constructor(store: RunStore) {
    this.store = store;
  }

  /** How many runs have a tail now (each with its one subscription). */
  get size(): number {
    return this.#tails.size;
  }

  /** Registers `tailer` for `runId` as a reader; subscribes the run when it is the first. */
  open(runId: string, tailer: Tailer): TailMembership {
    let tail = this.#tails.get(runId);
    if (tail === undefined) {
      const created = new RunTail(this.store, runId, () => {
        if (this.#tails.get(runId) === created) this.#tails.delete(runId);
      });
      this.#tails.set(runId, created);
      tail = created;
    }
    const owner = tail;
    owner.readers.add(tailer);
    let closed = false;
    return {
      join: (cursor) => !closed && owner.join(tailer, cursor),
      leave: () => {
        if (!closed) owner.leave(tailer);
      },
      close: () => {
        if (closed) return;
        closed = true;
        owner.remove(tailer);
      },
    };
  }
}

/** The tail of one run: its subscription, the tailers reading on their own, and the members. */
class RunTail {
  readonly readers = new Set<Tailer>();
  readonly members = new Set<Tailer>();
  readonly #store: RunStore;
  readonly #runId: string;
  readonly #dropped: () => void;
  readonly #unsubscribe: () => void;
  /** The shared reads read strictly after this offset (undefined: from the start). */
  #cursor: string | undefined;
  #reading = false;
  #scheduled = false;
  /** Something was appended since the last shared read started. */
  #appended = false;
  #closed = false;

  constructor(store: RunStore, runId: string, dropped: () => void) {
    this.#store = store;
    this.#runId = runId;
    this.#dropped = dropped;
    this.#unsubscribe = store.subscribe(runId, () => this.#onAppend());
  }

  join(tailer: Tailer, cursor: string | undefined): boolean {
    if (this.#closed) return false;
    if (this.members.size === 0 && !this.#reading && !this.#scheduled) {
      // Nobody relies on the cursor: start from the joiner's. Appends notified before now were
      // notified to it too, before its last read began (it joins only when none came since), so
      // that read returned them.
      this.#cursor = cursor;
      this.#appended = false;
    } else if (this.#cursor !== cursor && compare(cursor, this.#cursor) < 0) {
      return false;
    }
    this.readers.delete(tailer);
    this.members.add(tailer);
    return true;
  }

  leave(tailer: Tailer): void {
    if (this.members.delete(tailer)) this.readers.add(tailer);
  }

  remove(tailer: Tailer): void {
    this.members.delete(tailer);
    this.readers.delete(tailer);
    if (this.members.size > 0 || this.readers.size > 0 || this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    this.#dropped();
  }

  #onAppend(): void {
    if (this.#closed) return;
    this.#appended = true;
    for (const reader of this.readers) reader.appended();
    // Read once the running job's microtasks are done, so appends that follow at once (a commit
    // right after a batch) are read together; not a macrotask later, which on a busy server would
    // add latency to every chunk.
    if (this.members.size > 0 && !this.#reading && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#readSoon);
    }
  }

  readonly #readSoon = (): void => {
    this.#scheduled = false;
    this.#read();
  };

  #read(): void {
    if (this.#closed || this.#reading || this.#scheduled || this.members.size === 0) return;
    this.#reading = true;
    this.#appended = false;
    const after = this.#cursor;
    this.#store.readFrames(this.#runId, after, READ_BATCH, READ_MAX_BYTES).then(
      (entries) => this.#received(after, entries),
      (error: unknown) => this.#failed(error),
    );
  }

  #received(after: string | undefined, entries: readonly LogEntry[]): void {
    this.#reading = false;
    if (this.#closed) return;
    let full = false;
    if (entries.length > 0) {
      const batch = encodeBatch(after, entries);
      this.#cursor = batch.last;
      full = entries.length >= READ_BATCH || batch.bytes >= READ_MAX_BYTES;
      // A snapshot: members leave (full sinks) or close (result frame) during the fan-out.
      for (const member of [...this.members]) member.deliver(batch);
      if (batch.ended) return;
    }
    // A full read may have more behind it, and an append during the read may have added some.
    if (full || this.#appended) this.#read();
  }

  #failed(error: unknown): void {
    this.#reading = false;
    if (this.#closed) return;
    const members = [...this.members];
    this.members.clear();
    for (const member of members) {
      this.readers.add(member);
      member.failed(error);
    }
  }
}

/** Encodes a read's entries once, up to and including a result frame. */
function encodeBatch(after: string | undefined, entries: readonly LogEntry[]): TailBatch & { readonly bytes: number } {
  let text = "";
  let bytes = 0;
  let last = "";
  let ended = false;
  for (const entry of entries) {
    text += encodeEvent(entry.type, entry.offset, entry.payload);
    bytes += entry.payload.length;
    last = entry.offset;
    if (entry.type === "result") {
      ended = true;
      break;
    }
  }
  return { after, entries, text, last, ended, bytes };
}

/**
 * The part of a batch strictly after `cursor`, for a member that joined ahead of the tail's
 * cursor; `last` is undefined when nothing is left.
 */
export function batchAfter(batch: TailBatch, cursor: string | undefined): { text: string; last: string | undefined; ended: boolean } {
  const from = toOffset(cursor);
  let text = "";
  let last: string | undefined;
  for (const entry of batch.entries) {
    if (compareOffsets(parseOffset(entry.offset), from) <= 0) continue;
    text += encodeEvent(entry.type, entry.offset, entry.payload);
    last = entry.offset;
    if (entry.type === "result") return { text, last, ended: true };
  }
  return { text, last, ended: false };
}

function toOffset(offset: string | undefined): Offset {
  return offset === undefined ? START_OFFSET : parseOffset(offset);
}

/** Orders two offsets of one log (undefined: before every frame). */
function compare(a: string | undefined, b: string | undefined): number {
  return compareOffsets(toOffset(a), toOffset(b));
}
