import { DurastreamError, InvalidOptionsError } from "@durastream/protocol";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { DurableError } from "@durastream/server";

/** The schema version this package writes, kept in `PRAGMA user_version`. */
export const SCHEMA_VERSION = 5;

/**
 * Tables of a store file. Offsets are `${epoch}-${sequence}`: `sequence` numbers a run's frames
 * across epochs, and since a run's epoch never decreases along its log, `(epoch, sequence)` order
 * is log order; `frames_by_offset` serves "frames strictly after (epoch, sequence)" as one range.
 * `runs_due` (suspended runs by wake time) and `runs_lease_expiry` (running runs by lease expiry)
 * serve a page of resumable runs after a cursor `(due time, run id)` as two ranges.
 * `runs_active_key` holds the keys of active runs (`NewRun.key`), unique per endpoint: a run leaves
 * it when it finishes (its status changes), so finished and expired runs never hold a key.
 */
const SCHEMA = `
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY NOT NULL,
  endpoint_id TEXT NOT NULL,
  status TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  owner TEXT,
  lease_expires_at INTEGER NOT NULL,
  wake_at INTEGER,
  outside_committed INTEGER NOT NULL,
  frame_count INTEGER NOT NULL,
  log_bytes INTEGER NOT NULL,
  request TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER,
  result TEXT,
  quiet_offset TEXT,
  quiet_rollbacks TEXT,
  outside_pending INTEGER NOT NULL DEFAULT 0,
  run_key TEXT
) STRICT;
CREATE INDEX runs_due ON runs (wake_at, run_id) WHERE status = 'suspended';
CREATE INDEX runs_lease_expiry ON runs (lease_expires_at, run_id) WHERE status = 'running';
CREATE INDEX runs_by_finish ON runs (finished_at) WHERE finished_at IS NOT NULL;
CREATE UNIQUE INDEX runs_active_key ON runs (endpoint_id, run_key) WHERE run_key IS NOT NULL AND status IN ('running', 'suspended');

CREATE TABLE steps (
  run_id TEXT NOT NULL,
  hashed_step_id TEXT NOT NULL,
  step_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  output TEXT,
  error TEXT,
  attempts INTEGER NOT NULL,
  retries INTEGER,
  wake_at INTEGER,
  event TEXT,
  match TEXT,
  waiting INTEGER NOT NULL,
  PRIMARY KEY (run_id, hashed_step_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX steps_by_position ON steps (run_id, position);
CREATE INDEX steps_waiting ON steps (event) WHERE waiting = 1;

CREATE TABLE frames (
  run_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  type TEXT NOT NULL,
  payload TEXT NOT NULL,
  PRIMARY KEY (run_id, sequence)
) STRICT, WITHOUT ROWID;
CREATE INDEX frames_by_offset ON frames (run_id, epoch, sequence);
`;

/** Upgrades from each schema version to the next: MIGRATIONS[0] takes version 1 to 2, and so on. */
const MIGRATIONS: readonly string[] = [
  // 2: a `running` journal entry records the retries its step may make, for takeovers.
  "ALTER TABLE steps ADD COLUMN retries INTEGER;",
  // 3: listResumableRuns pages through due runs by (due time, run id), one index range per status.
  `DROP INDEX IF EXISTS runs_resumable;
   DROP INDEX IF EXISTS runs_by_wake;
   CREATE INDEX IF NOT EXISTS runs_due ON runs (wake_at, run_id) WHERE status = 'suspended';
   CREATE INDEX IF NOT EXISTS runs_lease_expiry ON runs (lease_expires_at, run_id) WHERE status = 'running';`,
  // 4: a run's quiet point (RunRecord.quiet), where takeovers start their scan of the log, and
  // whether outside-step chunks are pending (a suspension moves the quiet point only when not).
  // Runs of older files have none: their first takeover reads the whole log, as before.
  `ALTER TABLE runs ADD COLUMN quiet_offset TEXT;
   ALTER TABLE runs ADD COLUMN quiet_rollbacks TEXT;
   ALTER TABLE runs ADD COLUMN outside_pending INTEGER NOT NULL DEFAULT 0;`,
  // 5: run keys (NewRun.key), unique among the active runs of an endpoint. Runs of older files
  // have none.
  `ALTER TABLE runs ADD COLUMN run_key TEXT;
   CREATE UNIQUE INDEX IF NOT EXISTS runs_active_key ON runs (endpoint_id, run_key) WHERE run_key IS NOT NULL AND status IN ('running', 'suspended');`,
];

/**
 * Opens `path` for one store: takes the file's exclusive lock (so no other process or connection
 * can use it while this one is open), turns on WAL with `synchronous = FULL`, and creates or checks
 * the schema. Throws an `InvalidOptionsError` saying what to do when the file is
 * in use, cannot be opened, or is not a store file of this version.
 */
export function openDatabase(path: string): Database.Database {
  let database: Database.Database;
  try {
    // timeout 0: a file locked by another store fails at once instead of after a busy wait.
    database = new Database(path, { timeout: 0 });
  } catch (error) {
    throw openError(path, error);
  }
  try {
    // EXCLUSIVE before WAL: WAL then keeps its index in this process's memory (no -shm file) and
    // the lock taken by the first write below is held until close.
    database.pragma("locking_mode = EXCLUSIVE");
    const mode = database.pragma("journal_mode = WAL", { simple: true });
    if (mode !== "wal" && mode !== "memory") {
      throw new InvalidOptionsError(`SqliteRunStore: could not turn on WAL for ${path} (journal mode is "${String(mode)}"); use a file on a local disk.`);
    }
    database.pragma("synchronous = FULL");
    const version = database.pragma("user_version", { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new InvalidOptionsError(
        `SqliteRunStore: ${path} was written by a newer @durastream/sqlite (schema ${version}, this one knows ${SCHEMA_VERSION}); upgrade @durastream/sqlite or pass another path.`,
      );
    }
    // An immediate transaction takes the write lock now, so a second opener is refused at open.
    database
      .transaction(() => {
        if (version === 0) {
          database.exec(SCHEMA);
          database.pragma(`user_version = ${SCHEMA_VERSION}`);
        } else if (version < SCHEMA_VERSION) {
          for (const migration of MIGRATIONS.slice(version - 1)) database.exec(migration);
          database.pragma(`user_version = ${SCHEMA_VERSION}`);
        }
      })
      .immediate();
    return database;
  } catch (error) {
    database.close();
    throw DurastreamError.isInstance(error) ? error : openError(path, error);
  }
}

function openError(path: string, error: unknown): DurastreamError {
  const code = (error as { code?: unknown } | null)?.code;
  const reason = error instanceof Error ? error.message : String(error);
  // A full or failing disk is no wrong option: report it as the store methods do.
  if (typeof code === "string" && /^SQLITE_(FULL|IOERR)/.test(code)) return unavailableError(path, `opening ${path} failed`, error)!;
  if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED") {
    return new InvalidOptionsError(
      `SqliteRunStore: ${path} is in use by another process (or another open SqliteRunStore): a store file serves one process at a time. Close the other store first, or give each process its own path.`,
      { cause: error },
    );
  }
  if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") {
    return new InvalidOptionsError(`SqliteRunStore: ${path} is not a SQLite store file (${reason}); pass the path of a store file or of a new file.`, {
      cause: error,
    });
  }
  return new InvalidOptionsError(`SqliteRunStore: cannot open ${path} (${reason}); pass a path in an existing, writable directory.`, { cause: error });
}

/**
 * What to check for each SQLite primary result code that means the file cannot be used right now
 * (extended codes such as `SQLITE_IOERR_FSYNC` or `SQLITE_READONLY_DBMOVED` go with their primary
 * code). Codes not listed (constraints, misuse, …) are programming errors and pass through as they are.
 */
const ADVICE: ReadonlyArray<readonly [code: string, advice: (path: string) => string]> = [
  [
    "SQLITE_FULL",
    (path) =>
      `The disk holding ${dirname(path)} is full (or a file size limit was reached). Free disk space there; the store works again once writes fit, without restarting.`,
  ],
  [
    "SQLITE_IOERR",
    (path) =>
      `The operating system reported an I/O error on ${path} or its -wal file. Check the disk and its free space, that the file system is still mounted and writable, and the kernel log (dmesg).`,
  ],
  [
    "SQLITE_READONLY",
    (path) =>
      `${path} cannot be written. Check that its file system is not mounted (or remounted) read-only, that this process may write the file and its directory, and that the file was not moved or replaced while the store was open.`,
  ],
  [
    "SQLITE_CANTOPEN",
    (path) =>
      `A file the store needs (${path}, its -wal file or a temporary file) cannot be opened. Check that ${dirname(path)} still exists and is writable, and that the process has file descriptors left (ulimit -n).`,
  ],
  [
    "SQLITE_BUSY",
    (path) =>
      `${path} was locked past the busy timeout. Check that no other program (a backup tool, a sqlite3 shell) has the file open; a store file serves one process at a time.`,
  ],
  ["SQLITE_LOCKED", (path) => `${path} was locked past the busy timeout. Check that no other program (a backup tool, a sqlite3 shell) has the file open.`],
  ["SQLITE_NOLFS", (path) => `The file system holding ${path} does not support large files. Move the store file to a file system that does.`],
  ["SQLITE_NOMEM", () => "SQLite ran out of memory. Check the process's memory limit."],
  ["SQLITE_CORRUPT", (path) => `${path} is damaged. Stop the app, check the disk, and restore the file from a backup (or start over with a new file).`],
  ["SQLITE_NOTADB", (path) => `${path} is no longer a SQLite file (was it overwritten?). Stop the app and restore the file from a backup.`],
  ["SQLITE_PROTOCOL", (path) => `Locking ${path} failed repeatedly. Check that the file is on a local disk (not a network file system).`],
];

/**
 * The `STORE_UNAVAILABLE` error for a SQLite failure the operator has to fix (see `ADVICE`), saying
 * `what` failed, SQLite's code and message, and what to check, with `error` as cause; undefined for
 * any other error.
 */
export function unavailableError(path: string, what: string, error: unknown): DurableError | undefined {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  if (typeof code !== "string") return undefined;
  const advice = ADVICE.find(([primary]) => code === primary || code.startsWith(`${primary}_`))?.[1];
  if (advice === undefined) return undefined;
  return new DurableError("STORE_UNAVAILABLE", `SqliteRunStore: ${what} (${code}: ${(error as Error).message}). ${advice(path)}`, { cause: error });
}
