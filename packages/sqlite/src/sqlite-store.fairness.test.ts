// listResumableRuns on SQLite with many due runs (issue 12): one page is two index ranges after the
// cursor, however many runs are due; files of schema version 2 get the indexes when opened.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { RequestSnapshot, ResumableRun } from "@durastream/server/store";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SCHEMA_VERSION } from "./schema.js";
import { LIST_RESUMABLE, SqliteRunStore } from "./sqlite-store.js";

const START = 1_700_000_000_000;
const request: RequestSnapshot = { method: "POST", url: "https://app.example/api/chat", headers: [], body: null, bodyEncoding: "text" };

let directory: string;
let path: string;
const opened: SqliteRunStore[] = [];

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), "durastream-sqlite-fairness-"));
  path = join(directory, "runs.db");
});

afterEach(() => {
  for (const store of opened.splice(0)) store.close();
  rmSync(directory, { recursive: true, force: true });
});

function open(): SqliteRunStore {
  const store = new SqliteRunStore({ path, now: () => START });
  opened.push(store);
  return store;
}

function indexesOf(database: Database.Database): string[] {
  return database
    .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs' AND sql IS NOT NULL ORDER BY name")
    .pluck()
    .all() as string[];
}

describe("SqliteRunStore.listResumableRuns with many due runs", () => {
  it("reads each page as two index ranges after the cursor, never a scan of the runs", () => {
    const store = open();
    store.close();
    const database = new Database(path, { readonly: true });
    try {
      const plan = database.prepare(`EXPLAIN QUERY PLAN ${LIST_RESUMABLE}`).all({ now: START, limit: 100, afterDueAt: START - 10, afterRunId: "r" }) as {
        detail: string;
      }[];
      const reads = plan.map(({ detail }) => detail).filter((detail) => /\bruns\b/.test(detail));
      expect(reads).toEqual([
        expect.stringMatching(/^SEARCH runs USING INDEX runs_due \(\(wake_at,run_id\)>\(\?,\?\) AND wake_at<\?\)$/),
        expect.stringMatching(/^SEARCH runs USING INDEX runs_lease_expiry \(\(lease_expires_at,run_id\)>\(\?,\?\) AND lease_expires_at<\?\)$/),
      ]);
    } finally {
      database.close();
    }
  });

  it("pages through 300 due runs by cursor, exactly `limit` at a time", async () => {
    const store = open();
    const expected: ResumableRun[] = [];
    for (let index = 0; index < 300; index += 1) {
      const runId = `run-${String((index * 7_919) % 300).padStart(3, "0")}`;
      const dueAt = START - 100_000 + Math.floor(index / 4);
      const running = index % 3 === 0;
      await store.createRun({ runId, endpointId: "chat", createdAt: START, request, owner: "gone", leaseExpiresAt: running ? dueAt : START + 60_000 });
      if (!running) await store.appendFrames(runId, 1, [], { suspend: { wakeAt: dueAt } });
      expected.push({ runId, endpointId: "chat", dueAt });
    }
    expected.sort((a, b) => a.dueAt - b.dueAt || (a.runId < b.runId ? -1 : 1));
    const pages: ResumableRun[][] = [];
    let after: ResumableRun | undefined;
    for (let page: ResumableRun[]; (page = await store.listResumableRuns(START, 20, after)).length > 0; after = page[page.length - 1]) pages.push(page);
    expect(pages.map((page) => page.length)).toEqual(Array(15).fill(20));
    expect(pages.flat()).toEqual(expected);
  });

  it("upgrades a version 2 file: the old indexes go, the paging indexes come, its due runs are listed", async () => {
    // A file as version 2 wrote it (its schema, verbatim), with one due run.
    const database = new Database(path);
    database.exec(VERSION_2_SCHEMA);
    database
      .prepare(
        `INSERT INTO runs (run_id, endpoint_id, status, epoch, owner, lease_expires_at, wake_at, outside_committed, frame_count, log_bytes, request, created_at, updated_at)
         VALUES ('r1', 'chat', 'suspended', 1, NULL, ?, ?, 0, 0, 0, ?, ?, ?)`,
      )
      .run(START + 60_000, START - 5, JSON.stringify(request), START - 10, START - 10);
    database.pragma("user_version = 2");
    database.close();

    const store = open();
    expect(await store.listResumableRuns(START, 10)).toEqual([{ runId: "r1", endpointId: "chat", dueAt: START - 5 }]);
    expect(await store.nextWakeAt(START - 6)).toBe(START - 5);
    store.close();
    const check = new Database(path, { readonly: true });
    try {
      expect(check.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
      const indexes = indexesOf(check);
      expect(indexes).toEqual(expect.arrayContaining(["runs_due", "runs_lease_expiry"]));
      expect(indexes).not.toContain("runs_resumable");
      expect(indexes).not.toContain("runs_by_wake");
    } finally {
      check.close();
    }
  });
});

/** The schema of version 2 files, as @durastream/sqlite wrote them. */
const VERSION_2_SCHEMA = `
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
  result TEXT
) STRICT;
CREATE INDEX runs_resumable ON runs (created_at, run_id) WHERE status IN ('running', 'suspended');
CREATE INDEX runs_by_wake ON runs (wake_at) WHERE status = 'suspended';
CREATE INDEX runs_by_finish ON runs (finished_at) WHERE finished_at IS NOT NULL;

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
