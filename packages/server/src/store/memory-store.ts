import { compareOffsets, parseOffset, START_OFFSET, type Offset } from "@durastream/protocol";
import { DurableError } from "../errors.js";
import { systemTimers, unrefTimer, type Timers } from "../timers.js";
import type { AppendEffects, FrameToAppend, LogEntry, NewRun, RunRecord, RunStore, StepRecord } from "./run-store.js";

/** Options of the in-memory store. */
export interface MemoryRunStoreOptions {
  /** How long a finished run and its log are kept, in milliseconds. Default 1 hour. */
  retention?: number;
  /** Timers for retention; tests inject fake ones. */
  timers?: Timers;
}

interface StoredEntry extends LogEntry {
  readonly epoch: number;
  readonly sequence: number;
}

interface MemoryRun {
  record: RunRecord;
  readonly steps: StepRecord[];
  readonly log: StoredEntry[];
  sequence: number;
  readonly listeners: Set<() => void>;
}

/**
 * The default `RunStore`: everything in this process's memory. Zero setup, as fast as it gets, and
 * gone when the process exits — use a durable store for runs that must survive a restart.
 *
 * @example
 * ```ts
 * import { createDurable, MemoryRunStore } from "@durastream/server";
 * const durable = createDurable({ store: new MemoryRunStore({ retention: 10 * 60_000 }) });
 * ```
 */
export class MemoryRunStore implements RunStore {
  readonly #runs = new Map<string, MemoryRun>();
  readonly #retention: number;
  readonly #timers: Timers;

  constructor(options: MemoryRunStoreOptions = {}) {
    const { retention = 60 * 60_000, timers = systemTimers } = options;
    if (!Number.isFinite(retention) || retention < 0) {
      throw new DurableError("INVALID_OPTIONS", `MemoryRunStore: "retention" must be milliseconds >= 0, got ${String(retention)}.`);
    }
    this.#retention = retention;
    this.#timers = timers;
  }

  async createRun(run: NewRun): Promise<RunRecord> {
    if (this.#runs.has(run.runId)) {
      throw new DurableError("INVALID_OPTIONS", `MemoryRunStore: a run with id ${run.runId} exists already; run ids must be unique.`);
    }
    const record: RunRecord = { ...run, status: "running", epoch: 1, updatedAt: run.createdAt };
    this.#runs.set(run.runId, { record, steps: [], log: [], sequence: 0, listeners: new Set() });
    return record;
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    return this.#runs.get(runId)?.record;
  }

  async listSteps(runId: string): Promise<StepRecord[]> {
    return [...this.#require(runId).steps];
  }

  async appendFrames(runId: string, frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<string> {
    const run = this.#require(runId);
    if (run.record.status !== "running") {
      throw new DurableError("RUN_NOT_FOUND", `Run ${runId} is over; its log takes no more frames.`);
    }
    const { epoch } = run.record;
    let offset = "";
    for (const frame of frames) {
      const sequence = ++run.sequence;
      offset = `${epoch}-${sequence}`;
      run.log.push({ type: frame.type, payload: frame.payload, offset, epoch, sequence });
    }
    if (effects?.step !== undefined) run.steps.push(effects.step);
    if (effects?.finish !== undefined) {
      run.record = {
        ...run.record,
        status: effects.finish.status,
        result: effects.finish.response,
        updatedAt: this.#timers.now(),
      };
      unrefTimer(this.#timers.setTimeout(() => this.#runs.delete(runId), this.#retention));
    }
    for (const listener of run.listeners) listener();
    return offset;
  }

  async readFrames(runId: string, after: string | undefined, limit: number): Promise<LogEntry[]> {
    const { log } = this.#require(runId);
    const start = firstIndexAfter(log, after === undefined ? START_OFFSET : parseOffset(after));
    return start >= log.length ? [] : log.slice(start, start + limit);
  }

  subscribe(runId: string, listener: () => void): () => void {
    const run = this.#runs.get(runId);
    if (run === undefined) return () => {};
    run.listeners.add(listener);
    return () => run.listeners.delete(listener);
  }

  #require(runId: string): MemoryRun {
    const run = this.#runs.get(runId);
    if (run === undefined) throw new DurableError("RUN_NOT_FOUND", `Run ${runId} is unknown to this store (or has expired).`);
    return run;
  }
}

/** Binary search: index of the first entry whose offset is strictly after `after`. */
function firstIndexAfter(log: readonly StoredEntry[], after: Offset): number {
  let low = 0;
  let high = log.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const entry = log[middle]!;
    if (compareOffsets(entry, after) <= 0) low = middle + 1;
    else high = middle;
  }
  return low;
}
