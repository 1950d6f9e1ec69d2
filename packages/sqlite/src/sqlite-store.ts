import type Database from "better-sqlite3";
import { DurableError } from "@durastream/server";
import {
  RunKeyTakenError,
  StoreRefusedError,
  eventMatches,
  outsidePendingAfter,
  stringifyRollbackMarks,
  type AppendEffects,
  type DurableEvent,
  type FrameToAppend,
  type LogEntry,
  type NewRun,
  type ResumableCursor,
  type ResumableRun,
  type RunRecord,
  type RunStore,
  type RunSummary,
  type StepRecord,
} from "@durastream/server/store";
import { InvalidOptionsError, parseOffset } from "@durastream/protocol";
import { checkStoreClock, checkStoreRetention, describeValue } from "@durastream/protocol/internal";
import { RUN_SUMMARY_COLUMNS, runFromRow, stepFromRow, stepToRow, summaryFromRow, type RunRow, type RunSummaryRow, type StepRow } from "./rows.js";
import { openDatabase, unavailableError } from "./schema.js";

/**
 * Options of `SqliteRunStore`.
 *
 * @example
 * ```ts
 * const options: SqliteRunStoreOptions = { path: "./data/durastream.db", retention: 6 * 60 * 60_000 };
 * ```
 */
export interface SqliteRunStoreOptions {
  /**
   * The database file, created when missing (its directory must exist). One process at a time may
   * open it: the store holds the file's exclusive lock until `close()`.
   */
  path: string;
  /** How long a finished run and its log are kept after it finished, in milliseconds. Default 24 hours. */
  retention?: number;
  /** The clock, epoch-milliseconds (retention and `updatedAt` read it). Default `Date.now`. */
  now?: () => number;
}

const DEFAULT_RETENTION = 24 * 60 * 60_000;
const SWEEP_INTERVAL = 60_000;

/** Each store's connection, for `connectionForTesting` only. */
const connections = new WeakMap<SqliteRunStore, Database.Database>();

/**
 * INTERNAL, for this package's tests only; not exported from `@durastream/sqlite` and not part of
 * its API. The store's own better-sqlite3 connection, so that a test can simulate a full disk
 * (`PRAGMA max_page_count`) or a failing write on it: the store holds the file's exclusive lock,
 * so no second connection can reach the file, and `max_page_count` is per connection anyway.
 */
export function connectionForTesting(store: SqliteRunStore): Database.Database {
  const database = connections.get(store);
  if (database === undefined) throw new TypeError("connectionForTesting: not a SqliteRunStore");
  return database;
}

interface RunState {
  readonly status: RunRecord["status"];
  readonly epoch: number;
  readonly frame_count: number;
  readonly log_bytes: number;
  readonly finished_at: number | null;
  readonly outside_pending: number;
}

interface FrameRow {
  readonly epoch: number | null;
  readonly sequence: number | null;
  readonly type: LogEntry["type"] | null;
  readonly payload: string | null;
}

interface NewRunRow {
  runId: string;
  endpointId: string;
  owner: string;
  leaseExpiresAt: number;
  request: string;
  createdAt: number;
  key: string | null;
}

interface FrameQuery {
  runId: string;
  epoch: number;
  sequence: number;
  expiredBefore: number;
  limit: number;
}

/**
 * `listResumableRuns`: a page after the cursor of each status, each one range of its index
 * (`runs_due`, `runs_lease_expiry`), merged: the work is bounded by the page, however many runs
 * are due. Exported for the test of its query plan.
 */
export const LIST_RESUMABLE = `SELECT runId, endpointId, dueAt FROM (
  SELECT * FROM (
    SELECT run_id AS runId, endpoint_id AS endpointId, wake_at AS dueAt FROM runs
    WHERE status = 'suspended' AND wake_at <= @now AND (wake_at, run_id) > (@afterDueAt, @afterRunId)
    ORDER BY wake_at, run_id LIMIT @limit)
  UNION ALL
  SELECT * FROM (
    SELECT run_id, endpoint_id, lease_expires_at FROM runs
    WHERE status = 'running' AND lease_expires_at < @now AND (lease_expires_at, run_id) > (@afterDueAt, @afterRunId)
    ORDER BY lease_expires_at, run_id LIMIT @limit))
ORDER BY dueAt, runId
LIMIT @limit`;

/** A page of `listResumableRuns`: runs due at `now` strictly after the cursor (dueAt, runId). */
interface ResumableQuery {
  now: number;
  limit: number;
  afterDueAt: number;
  afterRunId: string;
}

interface Claim {
  runId: string;
  owner: string;
  leaseExpiresAt: number;
  now: number;
  updatedAt: number;
}

interface RunUpdate {
  runId: string;
  now: number;
  frameCount: number;
  logBytes: number;
  outsideCommitted: number | null;
  finishStatus: string | null;
  result: string | null;
  suspendWakeAt: number | null;
  outsidePending: number;
  /** A quiet point to record (see `RunRecord.quiet`), or null to keep the run's. */
  quietOffset: string | null;
  /** Its rollback marks (JSON), or null to keep the run's. */
  quietRollbacks: string | null;
}

/**
 * A durable `RunStore` in one SQLite file (through better-sqlite3), for apps on one machine: runs,
 * step journals and frame logs survive a restart or a crash of the process. Every write is one
 * transaction in WAL mode with `synchronous = FULL`, so once `appendFrames` resolves its frames and
 * effects are on disk (the engine sends commit frames only after that).
 *
 * One process uses a file at a time: the store holds the file's exclusive lock while open, and a
 * second store on the same file is refused with a `DurableError`. Hence, when a store opens, the
 * runs the file shows `running` were left by a process that is gone: their leases are marked
 * expired at once (`leaseExpiresAt` 0), so `claimRun` takes them over without waiting.
 *
 * Finished runs are kept for `retention` after they finished; past it they are unknown, and their
 * rows are deleted on open and by `createRun` (at most once a minute). The store starts no timers.
 *
 * When the file cannot be used (disk full, I/O error, read-only, locked, closed store), every
 * method rejects with a `DurableError` of code `STORE_UNAVAILABLE` whose message names the file and
 * what to check, with SQLite's error as `cause`; a rejected write changed nothing, and the store
 * works again once the condition is gone, without reopening.
 *
 * @example
 * ```ts
 * import { createDurable } from "@durastream/server";
 * import { SqliteRunStore } from "@durastream/sqlite";
 *
 * const store = new SqliteRunStore({ path: "./data/durastream.db", retention: 60 * 60_000 });
 * const durable = createDurable({ store });
 * process.on("SIGTERM", () => store.close());
 * ```
 */
export class SqliteRunStore implements RunStore {
  readonly #database: Database.Database;
  readonly #path: string;
  readonly #retention: number;
  readonly #now: () => number;
  readonly #listeners = new Map<string, Set<() => void>>();
  #lastSweep = Number.NEGATIVE_INFINITY;

  readonly #insertRun: Database.Statement<[NewRunRow]>;
  readonly #selectRun: Database.Statement<[string], RunRow>;
  readonly #selectRunState: Database.Statement<[string], RunState>;
  readonly #selectRunSummary: Database.Statement<[string], RunSummaryRow>;
  readonly #deleteRunRows: Database.Statement<[string]>[];
  readonly #selectSteps: Database.Statement<[string], StepRow>;
  readonly #upsertStep: Database.Statement<[StepRow]>;
  readonly #insertFrame: Database.Statement<[string, number, number, string, string]>;
  readonly #updateRun: Database.Statement<[RunUpdate]>;
  readonly #dropWaits: Database.Statement<[string]>;
  readonly #readFrames: Database.Statement<[FrameQuery], FrameRow>;
  readonly #claimRun: Database.Statement<[Claim], RunRow>;
  readonly #renewLease: Database.Statement<[number, number, string, string, number]>;
  readonly #listResumable: Database.Statement<[ResumableQuery], ResumableRun>;
  readonly #nextWakeAt: Database.Statement<[number], number | null>;
  readonly #selectWaits: Database.Statement<[string], Pick<StepRow, "run_id" | "hashed_step_id" | "wake_at" | "match">>;
  readonly #markDelivered: Database.Statement<[string, string, string]>;
  readonly #wakeRun: Database.Statement<[number, number, string]>;
  readonly #sweep: Database.Statement<[number]>[];
  readonly #selectKeyHolder: Database.Statement<[string, string], string>;

  readonly #appendTransaction: (runId: string, epoch: number, frames: readonly FrameToAppend[], effects: AppendEffects | undefined) => string;
  readonly #deliverTransaction: (event: DurableEvent, now: number) => string[];
  readonly #createTransaction: (run: NewRun) => RunRecord;

  constructor(options: SqliteRunStoreOptions) {
    const { path, retention = DEFAULT_RETENTION, now = Date.now } = validateOptions(options);
    this.#retention = retention;
    // Times are stored in INTEGER columns: whole milliseconds, rounded up (see `storedTime`).
    this.#now = () => storedTime(now());
    const database = openDatabase(path);
    this.#database = database;
    this.#path = path;
    connections.set(this, database);
    try {
      this.#insertRun = database.prepare<[NewRunRow]>(
        `INSERT INTO runs (run_id, endpoint_id, status, epoch, owner, lease_expires_at, wake_at, outside_committed, frame_count, log_bytes, request, created_at, updated_at, run_key)
         VALUES (@runId, @endpointId, 'running', 1, @owner, @leaseExpiresAt, NULL, 0, 0, 0, @request, @createdAt, @createdAt, @key)`,
      );
      this.#selectRun = database.prepare<[string], RunRow>("SELECT * FROM runs WHERE run_id = ?");
      this.#selectRunState = database.prepare<[string], RunState>(
        "SELECT status, epoch, frame_count, log_bytes, finished_at, outside_pending FROM runs WHERE run_id = ?",
      );
      this.#selectRunSummary = database.prepare<[string], RunSummaryRow>(`SELECT ${RUN_SUMMARY_COLUMNS} FROM runs WHERE run_id = ?`);
      this.#deleteRunRows = ["frames", "steps", "runs"].map((table) => database.prepare<[string]>(`DELETE FROM ${table} WHERE run_id = ?`));
      this.#selectSteps = database.prepare<[string], StepRow>("SELECT * FROM steps WHERE run_id = ? ORDER BY position");
      this.#upsertStep = database.prepare<[StepRow]>(
        `INSERT INTO steps (run_id, hashed_step_id, step_id, position, kind, status, output, error, attempts, retries, wake_at, event, match, waiting)
         VALUES (@run_id, @hashed_step_id, @step_id, @position, @kind, @status, @output, @error, @attempts, @retries, @wake_at, @event, @match, @waiting)
         ON CONFLICT (run_id, hashed_step_id) DO UPDATE SET
           step_id = excluded.step_id, position = excluded.position, kind = excluded.kind, status = excluded.status,
           output = excluded.output, error = excluded.error, attempts = excluded.attempts, retries = excluded.retries, wake_at = excluded.wake_at,
           event = excluded.event, match = excluded.match, waiting = excluded.waiting`,
      );
      this.#insertFrame = database.prepare<[string, number, number, string, string]>(
        "INSERT INTO frames (run_id, sequence, epoch, type, payload) VALUES (?, ?, ?, ?, ?)",
      );
      this.#updateRun = database.prepare<[RunUpdate]>(
        `UPDATE runs SET
           frame_count = @frameCount,
           log_bytes = @logBytes,
           updated_at = @now,
           outside_committed = COALESCE(@outsideCommitted, outside_committed),
           status = COALESCE(@finishStatus, CASE WHEN @suspendWakeAt IS NULL THEN status ELSE 'suspended' END),
           result = COALESCE(@result, result),
           finished_at = CASE WHEN @finishStatus IS NULL THEN finished_at ELSE @now END,
           owner = CASE WHEN @finishStatus IS NULL AND @suspendWakeAt IS NULL THEN owner ELSE NULL END,
           outside_pending = @outsidePending,
           quiet_offset = COALESCE(@quietOffset, quiet_offset),
           quiet_rollbacks = COALESCE(@quietRollbacks, quiet_rollbacks),
           wake_at = CASE
             WHEN @finishStatus IS NOT NULL THEN NULL
             WHEN @suspendWakeAt IS NULL THEN wake_at
             WHEN wake_at IS NULL THEN @suspendWakeAt
             ELSE MIN(wake_at, @suspendWakeAt)
           END
         WHERE run_id = @runId`,
      );
      this.#dropWaits = database.prepare<[string]>("UPDATE steps SET waiting = 0 WHERE run_id = ? AND waiting = 1");
      // One indexed query: the run's row (NULL frame columns when no frame follows) joined to the
      // frames strictly after (epoch, sequence); no row at all when the run is unknown or expired.
      this.#readFrames = database.prepare<[FrameQuery], FrameRow>(
        `SELECT f.epoch, f.sequence, f.type, f.payload
         FROM runs r LEFT JOIN frames f ON f.run_id = r.run_id AND (f.epoch, f.sequence) > (@epoch, @sequence)
         WHERE r.run_id = @runId AND (r.finished_at IS NULL OR r.finished_at > @expiredBefore)
         ORDER BY f.epoch, f.sequence
         LIMIT @limit`,
      );
      this.#claimRun = database.prepare<[Claim], RunRow>(
        `UPDATE runs SET status = 'running', epoch = epoch + 1, owner = @owner, lease_expires_at = @leaseExpiresAt, wake_at = NULL, updated_at = @updatedAt
         WHERE run_id = @runId AND ((status = 'suspended' AND wake_at <= @now) OR (status = 'running' AND lease_expires_at < @now))
         RETURNING *`,
      );
      this.#renewLease = database.prepare<[number, number, string, string, number]>(
        "UPDATE runs SET lease_expires_at = ?, updated_at = ? WHERE run_id = ? AND owner = ? AND epoch = ? AND status = 'running'",
      );
      this.#listResumable = database.prepare<[ResumableQuery], ResumableRun>(LIST_RESUMABLE);
      this.#nextWakeAt = database.prepare<[number], number | null>("SELECT MIN(wake_at) FROM runs WHERE status = 'suspended' AND wake_at > ?").pluck();
      this.#selectWaits = database.prepare<[string], Pick<StepRow, "run_id" | "hashed_step_id" | "wake_at" | "match">>(
        "SELECT run_id, hashed_step_id, wake_at, match FROM steps WHERE event = ? AND waiting = 1",
      );
      this.#markDelivered = database.prepare<[string, string, string]>(
        "UPDATE steps SET status = 'succeeded', output = ?, waiting = 0 WHERE run_id = ? AND hashed_step_id = ?",
      );
      this.#wakeRun = database.prepare<[number, number, string]>(
        "UPDATE runs SET wake_at = ?, updated_at = ? WHERE run_id = ? AND status IN ('running', 'suspended')",
      );
      // One lookup in `runs_active_key` (its WHERE repeated, so the partial index serves it).
      this.#selectKeyHolder = database
        .prepare<[string, string], string>(
          "SELECT run_id FROM runs WHERE endpoint_id = ? AND run_key = ? AND run_key IS NOT NULL AND status IN ('running', 'suspended')",
        )
        .pluck();
      const expired = "SELECT run_id FROM runs WHERE finished_at <= ?";
      this.#sweep = [
        database.prepare<[number]>(`DELETE FROM frames WHERE run_id IN (${expired})`),
        database.prepare<[number]>(`DELETE FROM steps WHERE run_id IN (${expired})`),
        database.prepare<[number]>("DELETE FROM runs WHERE finished_at <= ?"),
      ];

      this.#appendTransaction = database.transaction(this.#append.bind(this));
      this.#deliverTransaction = database.transaction(this.#deliverWaits.bind(this));
      this.#createTransaction = database.transaction(this.#create.bind(this));

      // This process holds the file's lock: runs still marked running were left by a dead process.
      this.#guard("new SqliteRunStore", "writing", () => {
        database.prepare("UPDATE runs SET lease_expires_at = 0 WHERE status = 'running'").run();
        this.#sweepExpired();
      });
    } catch (error) {
      database.close();
      throw error;
    }
  }

  async createRun(run: NewRun): Promise<RunRecord> {
    return this.#guard("createRun", "writing", () => {
      if (this.#now() - this.#lastSweep >= SWEEP_INTERVAL) this.#sweepExpired();
      return this.#createTransaction(run);
    });
  }

  /** One lookup in the unique partial index of active runs' keys. */
  async findActiveRunByKey(endpointId: string, key: string): Promise<string | undefined> {
    return this.#guard("findActiveRunByKey", "reading", () => this.#selectKeyHolder.get(endpointId, key));
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const row = this.#guard("getRun", "reading", () => this.#selectRun.get(runId));
    return row === undefined || this.#isExpired(row.finished_at) ? undefined : runFromRow(row);
  }

  /** Selects the summary's columns only, so a large request body is not read. */
  async getRunSummary(runId: string): Promise<RunSummary | undefined> {
    const row = this.#guard("getRunSummary", "reading", () => this.#selectRunSummary.get(runId));
    return row === undefined || this.#isExpired(row.finished_at) ? undefined : summaryFromRow(row);
  }

  async listSteps(runId: string): Promise<StepRecord[]> {
    return this.#guard("listSteps", "reading", () => {
      const run = this.#selectRunState.get(runId);
      if (run === undefined || this.#isExpired(run.finished_at)) return [];
      return this.#selectSteps.all(runId).map(stepFromRow);
    });
  }

  /** Frames and effects in one transaction, durable (fsynced) when the promise resolves. */
  async appendFrames(runId: string, epoch: number, frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<string> {
    const offset = this.#guard("appendFrames", "writing", () => this.#appendTransaction(runId, epoch, frames, effects));
    if (frames.length > 0 || effects?.finish !== undefined) this.#notify(runId);
    return offset;
  }

  /**
   * With `maxBytes`, the rows are stepped through one by one and the statement is reset at the
   * bound, so frames past it are never loaded into JavaScript. (SQL's `length()` counts code
   * points, not UTF-16 code units, hence the loop.)
   */
  async readFrames(runId: string, after: string | undefined, limit: number, maxBytes?: number): Promise<LogEntry[]> {
    const { epoch, sequence } = after === undefined ? { epoch: 0, sequence: 0 } : parseOffset(after);
    return this.#guard("readFrames", "reading", () => {
      const query = { runId, epoch, sequence, expiredBefore: this.#now() - this.#retention, limit: Math.max(0, limit) };
      const entries: LogEntry[] = [];
      let rows = 0;
      if (maxBytes === undefined || !(maxBytes < Number.POSITIVE_INFINITY)) {
        const found = this.#readFrames.all(query);
        rows = found.length;
        for (const row of found) {
          if (row.sequence === null) break;
          entries.push({ offset: `${row.epoch}-${row.sequence}`, type: row.type!, payload: row.payload! });
        }
      } else {
        let bytes = 0;
        for (const row of this.#readFrames.iterate(query)) {
          rows += 1;
          if (row.sequence === null) break;
          entries.push({ offset: `${row.epoch}-${row.sequence}`, type: row.type!, payload: row.payload! });
          bytes += row.payload!.length;
          if (bytes >= maxBytes) break; // leaving the loop resets the statement
        }
      }
      // LIMIT 0, or no row at all: tell an empty read from an unknown run.
      if (rows === 0) this.#requireLive(runId);
      return entries;
    });
  }

  /** Listeners are in this process only, and called once the append's transaction has committed. */
  subscribe(runId: string, listener: () => void): () => void {
    let listeners = this.#listeners.get(runId);
    if (listeners === undefined) {
      listeners = new Set();
      this.#listeners.set(runId, listeners);
    }
    const set = listeners;
    const entry = () => listener();
    set.add(entry);
    return () => {
      set.delete(entry);
      if (set.size === 0 && this.#listeners.get(runId) === set) this.#listeners.delete(runId);
    };
  }

  /** Runs left `running` by a dead process have their leases expired when the store opens. */
  async claimRun(runId: string, owner: string, leaseExpiresAt: number, now: number): Promise<RunRecord | undefined> {
    const row = this.#guard("claimRun", "writing", () =>
      this.#claimRun.get({ runId, owner, leaseExpiresAt: storedTime(leaseExpiresAt), now, updatedAt: this.#now() }),
    );
    return row === undefined ? undefined : runFromRow(row);
  }

  async renewLease(runId: string, owner: string, epoch: number, leaseExpiresAt: number): Promise<boolean> {
    return this.#guard("renewLease", "writing", () => this.#renewLease.run(storedTime(leaseExpiresAt), this.#now(), runId, owner, epoch).changes === 1);
  }

  /** Two index ranges of at most `limit` rows each (`LIST_RESUMABLE`), however many runs are due. */
  async listResumableRuns(now: number, limit: number, after?: ResumableCursor): Promise<ResumableRun[]> {
    const query: ResumableQuery = {
      now,
      limit: Math.max(0, limit),
      afterDueAt: after?.dueAt ?? Number.MIN_SAFE_INTEGER,
      afterRunId: after?.runId ?? "",
    };
    return this.#guard("listResumableRuns", "reading", () => this.#listResumable.all(query));
  }

  async nextWakeAt(after?: number): Promise<number | null> {
    return this.#guard("nextWakeAt", "reading", () => this.#nextWakeAt.get(after ?? Number.MIN_SAFE_INTEGER) ?? null);
  }

  /** One transaction. */
  async deliverEvent(event: DurableEvent, now: number): Promise<string[]> {
    const woken = this.#guard("deliverEvent", "writing", () => this.#deliverTransaction(event, now));
    for (const runId of woken) this.#notify(runId);
    return woken;
  }

  /**
   * Closes the file and releases its lock; the store cannot be used afterwards. Safe to call twice.
   *
   * @example
   * ```ts
   * process.on("SIGTERM", () => store.close());
   * ```
   */
  close(): void {
    this.#listeners.clear();
    if (this.#database.open) this.#database.close();
  }

  /**
   * Runs one operation on the file. SQLite failures an operator has to fix (disk full, I/O error,
   * file locked, read-only or unopenable, corrupt) and use after `close()` are thrown as a
   * `DurableError` `STORE_UNAVAILABLE` naming the file and what to check; other errors (refusals,
   * programming errors) as they are. Writes are transactions, so a failed one changed nothing.
   */
  #guard<T>(operation: string, access: "reading" | "writing", work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (!this.#database.open) {
        throw new DurableError(
          "STORE_UNAVAILABLE",
          `SqliteRunStore: ${operation} was called after close(); ${this.#path} is closed. Stop using this store once it is closed (close it only at shutdown), or create a new SqliteRunStore for the file.`,
          { cause: error },
        );
      }
      throw unavailableError(this.#path, `${access} ${this.#path} failed in ${operation}`, error) ?? error;
    }
  }

  #create(run: NewRun): RunRecord {
    const existing = this.#selectRunState.get(run.runId);
    if (existing !== undefined) {
      if (!this.#isExpired(existing.finished_at)) {
        throw new DurableError("RUN_EXISTS", `SqliteRunStore: a run with id ${run.runId} exists already; run ids must be unique.`);
      }
      for (const statement of this.#deleteRunRows) statement.run(run.runId);
    }
    if (run.key !== undefined) {
      // The unique index would refuse the insert too; this names the holder.
      const holder = this.#selectKeyHolder.get(run.endpointId, run.key);
      if (holder !== undefined) throw new RunKeyTakenError("SqliteRunStore", run.endpointId, run.key, holder);
    }
    this.#insertRun.run({
      runId: run.runId,
      endpointId: run.endpointId,
      owner: run.owner,
      leaseExpiresAt: storedTime(run.leaseExpiresAt),
      request: JSON.stringify(run.request),
      createdAt: storedTime(run.createdAt),
      key: run.key ?? null,
    });
    return runFromRow(this.#selectRun.get(run.runId)!);
  }

  #append(runId: string, epoch: number, frames: readonly FrameToAppend[], effects: AppendEffects | undefined): string {
    const run = this.#requireLive(runId);
    if (run.status === "succeeded" || run.status === "failed") throw new StoreRefusedError("over", runId);
    if (run.epoch !== epoch) throw new StoreRefusedError("fenced", runId);
    let sequence = run.frame_count;
    let logBytes = run.log_bytes;
    let pending = run.outside_pending === 1;
    for (const frame of frames) {
      sequence += 1;
      logBytes += frame.payload.length;
      this.#insertFrame.run(runId, sequence, epoch, frame.type, frame.payload);
      pending = outsidePendingAfter(pending, frame.type, frame.payload);
    }
    // The quiet point (RunRecord.quiet): recorded by a takeover, moved by a suspension when no
    // outside-step chunks are pending.
    const quiet = effects?.quiet;
    if (quiet !== undefined) pending = false;
    const quietOffset = quiet !== undefined || (effects?.suspend !== undefined && !pending) ? `${epoch}-${sequence}` : null;
    if (effects?.step !== undefined) this.#upsertStep.run(stepToRow(runId, effects.step));
    const finish = effects?.finish;
    this.#updateRun.run({
      runId,
      now: this.#now(),
      frameCount: sequence,
      logBytes,
      outsideCommitted: effects?.outsideCommitted ?? null,
      finishStatus: finish?.status ?? null,
      result: finish === undefined ? null : JSON.stringify(finish.response),
      suspendWakeAt: effects?.suspend === undefined ? null : storedTime(effects.suspend.wakeAt),
      outsidePending: pending ? 1 : 0,
      quietOffset,
      quietRollbacks: quiet === undefined ? null : stringifyRollbackMarks(quiet.rollbacks),
    });
    if (finish !== undefined) this.#dropWaits.run(runId);
    return frames.length === 0 ? "" : `${epoch}-${sequence}`;
  }

  #deliverWaits(event: DurableEvent, now: number): string[] {
    const woken = new Set<string>();
    let output: string | undefined;
    for (const wait of this.#selectWaits.all(event.name)) {
      // At the deadline the wait's timeout is due (claimRun takes the run): the event is too late.
      if (wait.wake_at !== null && wait.wake_at <= now) continue;
      if (!eventMatches(wait.match === null ? undefined : (JSON.parse(wait.match) as Record<string, unknown>), event)) continue;
      output ??= JSON.stringify({ name: event.name, data: event.data ?? null });
      this.#markDelivered.run(output, wait.run_id, wait.hashed_step_id);
      woken.add(wait.run_id);
    }
    const updatedAt = this.#now();
    for (const runId of woken) this.#wakeRun.run(storedTime(now), updatedAt, runId);
    return [...woken];
  }

  /** The run's state for a write; throws `unknown-run` when it is unknown or expired. */
  #requireLive(runId: string): RunState {
    const run = this.#selectRunState.get(runId);
    if (run === undefined || this.#isExpired(run.finished_at)) throw new StoreRefusedError("unknown-run", runId);
    return run;
  }

  #isExpired(finishedAt: number | null): boolean {
    return finishedAt !== null && finishedAt <= this.#now() - this.#retention;
  }

  /** Deletes the rows of runs that finished `retention` ago or earlier. */
  #sweepExpired(): void {
    const now = this.#now();
    this.#lastSweep = now;
    const cutoff = now - this.#retention;
    this.#database.transaction(() => {
      for (const statement of this.#sweep) statement.run(cutoff);
    })();
  }

  #notify(runId: string): void {
    const listeners = this.#listeners.get(runId);
    if (listeners === undefined) return;
    for (const listener of [...listeners]) {
      try {
        listener();
      } catch (error) {
        // The write is done; a listener's failure must not turn it into a rejection. Report it.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

function validateOptions(options: SqliteRunStoreOptions): SqliteRunStoreOptions {
  if (typeof options !== "object" || options === null) {
    throw new InvalidOptionsError('SqliteRunStore: pass options, e.g. new SqliteRunStore({ path: "./data/durastream.db" }).');
  }
  const { path, retention, now } = options;
  if (typeof path !== "string" || path.trim() === "") {
    throw new InvalidOptionsError(
      `SqliteRunStore: "path" must be the database file's path, e.g. { path: "./data/durastream.db" }; got ${describeValue(path)}.`,
    );
  }
  checkStoreRetention("SqliteRunStore", retention, "24 hours");
  checkStoreClock("SqliteRunStore", now);
  return options;
}

/**
 * A time as the store keeps it: whole epoch-milliseconds, rounded up. Durations may be fractional
 * (`step.sleep("x", 10.5)`, `"0.0015s"`, a backoff function's result) while the columns are
 * INTEGER; rounding up never wakes a run early. Every store does the same (conformance suite).
 */
function storedTime(milliseconds: number): number {
  return Math.ceil(milliseconds);
}
