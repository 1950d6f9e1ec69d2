import { parseOffset, START_OFFSET } from "@durastream/protocol";
import { checkStoreClock, checkStoreRetention } from "@durastream/protocol/internal";
import { DurableError, StoreRefusedError } from "../errors.js";
import { eventMatches } from "./event-match.js";
import { FrameLog } from "./frame-log.js";
import { newRunRecord, storedTime } from "./new-run-record.js";
import { outsidePendingAfter } from "./quiet-point.js";
import { runKeyIndex } from "./run-key-index.js";
import { RunKeyTakenError } from "./run-key-taken.js";
import type {
  AppendEffects,
  DurableEvent,
  FrameToAppend,
  LogEntry,
  NewRun,
  ResumableCursor,
  ResumableRun,
  RunRecord,
  RunStore,
  RunSummary,
  StepRecord,
} from "./run-store.js";

/** Options of the in-memory store. */
export interface MemoryRunStoreOptions {
  /** How long a finished run and its log are kept, in milliseconds. Default 1 hour. */
  retention?: number;
  /** The clock (epoch-milliseconds); tests inject their own. */
  now?: () => number;
}

/**
 * One run in memory. The record's counters change on every append, so they live in mutable
 * fields and the immutable `record` handed out is rebuilt only when someone reads it after a change.
 */
class MemoryRun {
  readonly steps = new Map<string, StepRecord>();
  /** Compact: a run holds many frames, so the log keeps no object per frame (see `FrameLog`). */
  readonly log = new FrameLog();
  readonly listeners = new Set<() => void>();
  /** Outside-step chunks appended and not yet committed or rolled back (see `AppendEffects.suspend`). */
  outsidePending = false;
  #base: RunRecord;
  #frameCount: number;
  #logBytes: number;
  #updatedAt: number;
  #view: RunRecord | null = null;

  constructor(record: RunRecord) {
    this.#base = record;
    this.#frameCount = record.frameCount;
    this.#logBytes = record.logBytes;
    this.#updatedAt = record.updatedAt;
  }

  /** The record without fresh counters: cheap, for checks of status, epoch, owner and wake time. */
  get base(): RunRecord {
    return this.#base;
  }

  get record(): RunRecord {
    return (this.#view ??= { ...this.#base, frameCount: this.#frameCount, logBytes: this.#logBytes, updatedAt: this.#updatedAt });
  }

  set record(next: RunRecord) {
    this.#base = next;
    this.#frameCount = next.frameCount;
    this.#logBytes = next.logBytes;
    this.#updatedAt = next.updatedAt;
    this.#view = null;
  }

  /** Counts appended frames without copying the record. */
  appended(frames: number, bytes: number, now: number): void {
    this.#frameCount += frames;
    this.#logBytes += bytes;
    this.#updatedAt = now;
    this.#view = null;
  }
}

/** How often (at most) createRun sweeps expired runs. */
const SWEEP_INTERVAL = 60_000;

/**
 * The default `RunStore`: everything in this process's memory. Zero setup, as fast as it gets, and
 * gone when the process exits — use `@durastream/sqlite` for runs that must survive a restart, and
 * `@durastream/redis` for several instances.
 *
 * @example
 * ```ts
 * import { createDurable, MemoryRunStore } from "@durastream/server";
 * const durable = createDurable({ store: new MemoryRunStore({ retention: 10 * 60_000 }) });
 * ```
 */
export class MemoryRunStore implements RunStore {
  /** Runs live in this process only (an endpoint needs no explicit id). */
  readonly ephemeral = true;
  readonly #runs = new Map<string, MemoryRun>();
  /** Event name → runs with a step waiting for it. */
  readonly #waiting = new Map<string, Set<string>>();
  /** `runKeyIndex(endpointId, key)` → the run holding the key (entries go when the run finishes). */
  readonly #keys = new Map<string, string>();
  readonly #retention: number;
  readonly #now: () => number;
  #lastSweep = 0;

  constructor(options: MemoryRunStoreOptions = {}) {
    const { retention = 60 * 60_000, now = Date.now } = options;
    checkStoreRetention("MemoryRunStore", retention, "1 hour");
    checkStoreClock("MemoryRunStore", now);
    this.#retention = retention;
    // Times are kept as whole milliseconds, rounded up, as in every store (see `storedTime`).
    this.#now = () => storedTime(now());
  }

  async createRun(run: NewRun): Promise<RunRecord> {
    this.#sweep();
    if (this.#live(run.runId) !== undefined) {
      throw new DurableError("RUN_EXISTS", `MemoryRunStore: a run with id ${run.runId} exists already; run ids must be unique.`);
    }
    const index = run.key === undefined ? undefined : runKeyIndex(run.endpointId, run.key);
    if (index !== undefined) {
      const holder = this.#activeHolder(index);
      if (holder !== undefined) throw new RunKeyTakenError("MemoryRunStore", run.endpointId, run.key!, holder);
    }
    const record = newRunRecord(run);
    this.#runs.set(run.runId, new MemoryRun(record));
    if (index !== undefined) this.#keys.set(index, run.runId);
    return record;
  }

  /** The active run holding the key (see `RunStore.findActiveRunByKey`). */
  async findActiveRunByKey(endpointId: string, key: string): Promise<string | undefined> {
    return this.#activeHolder(runKeyIndex(endpointId, key));
  }

  /** The run holding a key if it is active; a stale entry (its run over or gone) is dropped. */
  #activeHolder(index: string): string | undefined {
    const runId = this.#keys.get(index);
    if (runId === undefined) return undefined;
    const status = this.#live(runId)?.base.status;
    if (status === "running" || status === "suspended") return runId;
    this.#keys.delete(index);
    return undefined;
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    return this.#live(runId)?.record;
  }

  /** The run without its request (see `RunStore.getRunSummary`). */
  async getRunSummary(runId: string): Promise<RunSummary | undefined> {
    const record = this.#live(runId)?.record;
    if (record === undefined) return undefined;
    const { request: _request, ...summary } = record;
    return summary;
  }

  async listSteps(runId: string): Promise<StepRecord[]> {
    const run = this.#live(runId);
    if (run === undefined) return [];
    return [...run.steps.values()].sort((a, b) => a.position - b.position);
  }

  // appendFrames and readFrames run for every chunk: plain functions returning settled promises,
  // not async functions, which would allocate more per call.
  appendFrames(runId: string, epoch: number, frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<string> {
    try {
      return Promise.resolve(this.#append(runId, epoch, frames, effects));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #append(runId: string, epoch: number, frames: readonly FrameToAppend[], effects: AppendEffects | undefined): string {
    const run = this.#live(runId);
    if (run === undefined) throw new StoreRefusedError("unknown-run", runId);
    const record = run.base;
    if (record.status === "succeeded" || record.status === "failed") throw new StoreRefusedError("over", runId);
    if (record.epoch !== epoch) throw new StoreRefusedError("fenced", runId);
    let bytes = 0;
    let pending = run.outsidePending;
    for (const frame of frames) {
      bytes += frame.payload.length;
      run.log.append(epoch, frame.type, frame.payload);
      pending = outsidePendingAfter(pending, frame.type, frame.payload);
    }
    run.outsidePending = pending;
    // The log's length is the last frame's sequence (sequences run 1, 2, … across epochs).
    const offset = frames.length === 0 ? "" : `${epoch}-${run.log.length}`;
    run.appended(frames.length, bytes, this.#now());
    if (effects !== undefined) {
      if (effects.step !== undefined) this.#putStep(run, effects.step);
      let next = run.record;
      if (effects.outsideCommitted !== undefined) next = { ...next, outsideCommitted: effects.outsideCommitted };
      if (effects.suspend !== undefined) {
        const suspendAt = storedTime(effects.suspend.wakeAt);
        const wakeAt = record.wakeAt === null ? suspendAt : Math.min(record.wakeAt, suspendAt);
        next = { ...next, status: "suspended", owner: null, wakeAt };
      }
      if (effects.quiet !== undefined) {
        run.outsidePending = false;
        next = {
          ...next,
          quiet: { offset: `${epoch}-${run.log.length}`, rollbacks: effects.quiet.rollbacks.map(({ hashedStepId, attempt }) => ({ hashedStepId, attempt })) },
        };
      } else if (effects.suspend !== undefined && !run.outsidePending) {
        next = { ...next, quiet: { offset: `${epoch}-${run.log.length}`, rollbacks: record.quiet?.rollbacks ?? [] } };
      }
      if (effects.finish !== undefined) {
        next = { ...next, status: effects.finish.status, result: effects.finish.response, owner: null, wakeAt: null };
        for (const step of run.steps.values()) if (step.status === "waiting") this.#unindexWait(step, runId);
        if (record.key !== undefined) {
          const index = runKeyIndex(record.endpointId, record.key);
          if (this.#keys.get(index) === runId) this.#keys.delete(index);
        }
      }
      run.record = next;
    }
    for (const listener of run.listeners) listener();
    return offset;
  }

  readFrames(runId: string, after: string | undefined, limit: number, maxBytes?: number): Promise<LogEntry[]> {
    try {
      const run = this.#live(runId);
      if (run === undefined) throw new StoreRefusedError("unknown-run", runId);
      return Promise.resolve(run.log.read(after === undefined ? START_OFFSET : parseOffset(after), limit, maxBytes));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  subscribe(runId: string, listener: () => void): () => void {
    const run = this.#live(runId);
    if (run === undefined) return () => {};
    run.listeners.add(listener);
    return () => run.listeners.delete(listener);
  }

  async claimRun(runId: string, owner: string, leaseExpiresAt: number, now: number): Promise<RunRecord | undefined> {
    const run = this.#live(runId);
    if (run === undefined || !claimable(run.record, now)) return undefined;
    run.record = {
      ...run.record,
      status: "running",
      epoch: run.record.epoch + 1,
      owner,
      leaseExpiresAt: storedTime(leaseExpiresAt),
      wakeAt: null,
      updatedAt: storedTime(now),
    };
    return run.record;
  }

  async renewLease(runId: string, owner: string, epoch: number, leaseExpiresAt: number): Promise<boolean> {
    const run = this.#live(runId);
    if (run === undefined || run.record.status !== "running" || run.record.owner !== owner || run.record.epoch !== epoch) return false;
    run.record = { ...run.record, leaseExpiresAt: storedTime(leaseExpiresAt) };
    return true;
  }

  /** A scan of every run (this store keeps no index): fine for the runs of one process. */
  async listResumableRuns(now: number, limit: number, after?: ResumableCursor): Promise<ResumableRun[]> {
    const due: ResumableRun[] = [];
    for (const run of this.#runs.values()) {
      const { runId, endpointId } = run.base;
      const dueAt = dueTime(run.base, now);
      if (dueAt === undefined || (after !== undefined && compareResumable({ dueAt, runId }, after) <= 0)) continue;
      due.push({ runId, endpointId, dueAt });
    }
    due.sort(compareResumable);
    return due.slice(0, Math.max(0, limit));
  }

  async nextWakeAt(after?: number): Promise<number | null> {
    let earliest: number | null = null;
    for (const { base: record } of this.#runs.values()) {
      if (record.status !== "suspended" || record.wakeAt === null || (after !== undefined && record.wakeAt <= after)) continue;
      if (earliest === null || record.wakeAt < earliest) earliest = record.wakeAt;
    }
    return earliest;
  }

  async deliverEvent(event: DurableEvent, now: number): Promise<string[]> {
    const runIds = this.#waiting.get(event.name);
    if (runIds === undefined) return [];
    const woken: string[] = [];
    const output = JSON.stringify({ name: event.name, data: event.data ?? null });
    for (const runId of [...runIds]) {
      const run = this.#live(runId);
      if (run === undefined) {
        runIds.delete(runId);
        continue;
      }
      let delivered = false;
      for (const step of run.steps.values()) {
        if (step.status !== "waiting" || step.event !== event.name) continue;
        if (step.wakeAt !== undefined && step.wakeAt <= now) continue;
        if (!eventMatches(step.match, event)) continue;
        this.#putStep(run, { ...step, status: "succeeded", output });
        delivered = true;
      }
      if (delivered) {
        run.record = { ...run.record, wakeAt: storedTime(now), updatedAt: storedTime(now) };
        woken.push(runId);
        for (const listener of run.listeners) listener();
      }
    }
    return woken;
  }

  #putStep(run: MemoryRun, step: StepRecord): void {
    if (step.wakeAt !== undefined && !Number.isInteger(step.wakeAt)) step = { ...step, wakeAt: storedTime(step.wakeAt) };
    const previous = run.steps.get(step.hashedStepId);
    run.steps.set(step.hashedStepId, step);
    // The run stays indexed under the event while another of its steps still waits for it.
    if (previous?.status === "waiting" && !this.#waitsFor(run, previous.event)) this.#unindexWait(previous, run.record.runId);
    if (step.status === "waiting" && step.event !== undefined) {
      let runIds = this.#waiting.get(step.event);
      if (runIds === undefined) this.#waiting.set(step.event, (runIds = new Set()));
      runIds.add(run.record.runId);
    }
  }

  #waitsFor(run: MemoryRun, event: string | undefined): boolean {
    for (const step of run.steps.values()) if (step.status === "waiting" && step.event === event) return true;
    return false;
  }

  #unindexWait(step: StepRecord, runId: string): void {
    if (step.event === undefined) return;
    const runIds = this.#waiting.get(step.event);
    runIds?.delete(runId);
    if (runIds?.size === 0) this.#waiting.delete(step.event);
  }

  /** The run unless it is unknown or expired. */
  #live(runId: string): MemoryRun | undefined {
    const run = this.#runs.get(runId);
    if (run === undefined) return undefined;
    if (this.#expired(run.base)) {
      this.#runs.delete(runId);
      return undefined;
    }
    return run;
  }

  #expired(record: RunRecord): boolean {
    return (record.status === "succeeded" || record.status === "failed") && record.updatedAt + this.#retention <= this.#now();
  }

  #sweep(): void {
    const now = this.#now();
    if (now - this.#lastSweep < SWEEP_INTERVAL) return;
    this.#lastSweep = now;
    for (const [runId, run] of this.#runs) if (this.#expired(run.record)) this.#runs.delete(runId);
  }
}

/** Whether `claimRun` may take the run at `now`. */
function claimable(record: RunRecord, now: number): boolean {
  return dueTime(record, now) !== undefined;
}

/** Since when the run is claimable (`ResumableRun.dueAt`), or undefined when it is not at `now`. */
function dueTime(record: RunRecord, now: number): number | undefined {
  if (record.status === "suspended") return record.wakeAt !== null && record.wakeAt <= now ? record.wakeAt : undefined;
  if (record.status === "running") return record.leaseExpiresAt < now ? record.leaseExpiresAt : undefined;
  return undefined;
}

/** The order of `listResumableRuns`: by `dueAt`, then by `runId` in UTF-8 byte order. */
function compareResumable(a: ResumableCursor, b: ResumableCursor): number {
  return a.dueAt - b.dueAt || compareUtf8(a.runId, b.runId);
}

/**
 * Compares strings as their UTF-8 bytes compare (code point order), as SQLite and Redis do.
 * UTF-16 code units order the same, except that surrogates (U+D800–U+DFFF, the halves of code
 * points above U+FFFF) must sort after U+E000–U+FFFF.
 */
function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  const length = Math.min(a.length, b.length);
  let index = 0;
  while (index < length && a.charCodeAt(index) === b.charCodeAt(index)) index += 1;
  if (index === length) return a.length - b.length;
  const weight = (unit: number) => (unit >= 0xe000 ? unit - 0x800 : unit >= 0xd800 ? unit + 0x2000 : unit);
  return weight(a.charCodeAt(index)) - weight(b.charCodeAt(index));
}
