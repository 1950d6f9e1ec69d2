import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { InvalidOptionsError } from "@durastream/server";
import type { NewRun, RequestSnapshot, StepRecord } from "@durastream/server/store";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SCHEMA_VERSION } from "./schema.js";
import { SqliteRunStore } from "./sqlite-store.js";

const START = 1_700_000_000_000;
const MINUTE = 60_000;
const request: RequestSnapshot = {
  method: "POST",
  url: "https://app.example/api/chat",
  headers: [["content-type", "application/json"]],
  body: '{"prompt":"hi"}',
  bodyEncoding: "text",
};
const response = { status: 200, statusText: "OK", headers: [], body: "done", bodyEncoding: "text" } as const;
const step: StepRecord = { hashedStepId: "a".repeat(40), stepId: "answer", position: 0, kind: "run", status: "succeeded", output: '"hi"', attempts: 1 };

let directory: string;
let path: string;
let clock: number;
const opened: SqliteRunStore[] = [];

function open(retention = 10 * MINUTE): SqliteRunStore {
  const store = new SqliteRunStore({ path, retention, now: () => clock });
  opened.push(store);
  return store;
}

function newRun(runId: string, overrides: Partial<NewRun> = {}): NewRun {
  return { runId, endpointId: "POST /api/chat", createdAt: clock, request, owner: "process-1", leaseExpiresAt: clock + 30_000, ...overrides };
}

function frames(count: number, prefix: string) {
  return Array.from({ length: count }, (_, index) => ({ type: "data" as const, payload: JSON.stringify({ data: `${prefix}${index}` }) }));
}

/** Row counts per table for a run, read with a plain connection once the store is closed. */
function rowCounts(runId: string): { runs: number; steps: number; frames: number } {
  const database = new Database(path, { readonly: true });
  try {
    const count = (table: string) => database.prepare(`SELECT COUNT(*) FROM ${table} WHERE run_id = ?`).pluck().get(runId) as number;
    return { runs: count("runs"), steps: count("steps"), frames: count("frames") };
  } finally {
    database.close();
  }
}

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), "durastream-sqlite-"));
  path = join(directory, "runs.db");
  clock = START;
});

afterEach(() => {
  for (const store of opened.splice(0)) store.close();
  rmSync(directory, { recursive: true, force: true });
});

describe("SqliteRunStore across restarts", () => {
  it("keeps runs, journals and frames when the file is closed and opened again; offsets continue", async () => {
    const first = open();
    await first.createRun(newRun("run-1"));
    await first.appendFrames("run-1", 1, frames(3, "a"), { step, outsideCommitted: 1 });
    await first.appendFrames("run-1", 1, frames(1, "b"), { suspend: { wakeAt: clock + 5_000 } });
    const before = await first.getRun("run-1");
    const log = await first.readFrames("run-1", undefined, 100);
    first.close();

    const second = open();
    expect(await second.getRun("run-1")).toEqual(before);
    expect(await second.listSteps("run-1")).toEqual([step]);
    expect(await second.readFrames("run-1", undefined, 100)).toEqual(log);
    expect(log.map((entry) => entry.offset)).toEqual(["1-1", "1-2", "1-3", "1-4"]);
    clock += 5_000;
    expect((await second.claimRun("run-1", "process-2", clock + 30_000, clock))?.epoch).toBe(2);
    expect(await second.appendFrames("run-1", 2, frames(2, "c"))).toBe("2-6");
    await second.appendFrames("run-1", 2, [{ type: "result", payload: "{}" }], { finish: { status: "succeeded", response } });
    second.close();

    const third = open();
    expect(await third.getRun("run-1")).toMatchObject({ status: "succeeded", epoch: 2, frameCount: 7, outsideCommitted: 1, result: response });
    expect((await third.readFrames("run-1", "1-4", 100)).map((entry) => entry.offset)).toEqual(["2-5", "2-6", "2-7"]);
  });

  it("lets claimRun take over runs left running at once after a reopen", async () => {
    const first = open();
    await first.createRun(newRun("run-1", { leaseExpiresAt: clock + 60 * MINUTE }));
    await first.appendFrames("run-1", 1, frames(2, "a"));
    await first.createRun(newRun("run-2"));
    await first.appendFrames("run-2", 1, [], { suspend: { wakeAt: clock + 60 * MINUTE } });
    expect(await first.claimRun("run-1", "process-2", clock + 30_000, clock)).toBeUndefined();
    first.close();

    const second = open();
    // Left running by a process that is gone: its lease reads as expired since 0.
    expect(await second.listResumableRuns(clock, 10)).toEqual([{ runId: "run-1", endpointId: "POST /api/chat", dueAt: 0 }]);
    const claimed = await second.claimRun("run-1", "process-2", clock + 30_000, clock);
    expect(claimed).toMatchObject({ status: "running", epoch: 2, owner: "process-2", leaseExpiresAt: clock + 30_000 });
    await expect(second.appendFrames("run-1", 1, frames(1, "x"))).rejects.toMatchObject({ code: "STORE_REFUSED", reason: "fenced" });
    expect(await second.appendFrames("run-1", 2, frames(1, "b"))).toBe("2-3");
    // Suspended runs keep their schedule.
    expect(await second.getRun("run-2")).toMatchObject({ status: "suspended", wakeAt: START + 60 * MINUTE });
    expect(await second.claimRun("run-2", "process-2", clock + 30_000, clock)).toBeUndefined();
  });
});

describe("SqliteRunStore schema upgrades", () => {
  it("upgrades a version 1 file in place: its runs stay, and running journal entries keep their step's retries", async () => {
    const first = open();
    await first.createRun(newRun("r1"));
    await first.appendFrames("r1", 1, frames(2, "a"), { step });
    first.close();
    // Make the file what version 1 wrote: no `retries` column, no quiet point columns (version 4), no run keys (5).
    const database = new Database(path);
    database.exec("ALTER TABLE steps DROP COLUMN retries");
    database.exec("ALTER TABLE runs DROP COLUMN quiet_offset; ALTER TABLE runs DROP COLUMN quiet_rollbacks; ALTER TABLE runs DROP COLUMN outside_pending;");
    database.exec("DROP INDEX runs_active_key; ALTER TABLE runs DROP COLUMN run_key;"); // version 5
    database.pragma("user_version = 1");
    database.close();

    const store = open();
    expect(await store.listSteps("r1")).toEqual([step]);
    expect((await store.readFrames("r1", undefined, 10)).map((entry) => entry.payload)).toEqual(frames(2, "a").map((frame) => frame.payload));
    const running: StepRecord = { hashedStepId: "b".repeat(40), stepId: "next", position: 1, kind: "run", status: "running", attempts: 2, retries: 5 };
    await store.appendFrames("r1", 1, [], { step: running });
    expect(await store.listSteps("r1")).toEqual([step, running]);
    store.close();
    const check = new Database(path, { readonly: true });
    expect(check.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    check.close();
  });
});

describe("SqliteRunStore one process per file", () => {
  it("refuses a second store on the same file while the first is open, with a clear error", async () => {
    const first = open();
    await first.createRun(newRun("run-1"));
    let error: unknown;
    try {
      open();
    } catch (caught) {
      error = caught;
    }
    expect(InvalidOptionsError.isInstance(error) && error.code).toBe("INVALID_OPTIONS");
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(/in use by another process/);
    expect(await first.getRun("run-1")).toBeDefined();
    await first.appendFrames("run-1", 1, frames(1, "a"));

    first.close();
    first.close(); // closing twice is harmless
    const second = open();
    expect((await second.getRun("run-1"))?.frameCount).toBe(1);
  });

  it("holds the file against other processes, and recovers a killed process's runs at once", async () => {
    const child = startChildStore(path, START);
    try {
      await child.ready;
      expect(() => open()).toThrow(/in use by another process/);
      child.process.kill("SIGKILL");
      await child.exited;
    } finally {
      child.process.kill("SIGKILL");
    }

    clock = START + 1_000; // long before the dead process's lease would have run out
    const store = open();
    const run = await store.getRun("crashed");
    expect(run).toMatchObject({ status: "running", epoch: 1, frameCount: 3, outsideCommitted: 2, leaseExpiresAt: 0 });
    expect(await store.listSteps("crashed")).toEqual([step]);
    expect((await store.readFrames("crashed", undefined, 10)).map((entry) => entry.offset)).toEqual(["1-1", "1-2", "1-3"]);
    expect((await store.claimRun("crashed", "process-2", clock + 30_000, clock))?.epoch).toBe(2);
    expect(await store.appendFrames("crashed", 2, frames(1, "after"))).toBe("2-4");
  });
});

describe("SqliteRunStore retention", () => {
  it("deletes the rows of expired runs when createRun sweeps, at most once a minute", async () => {
    const store = open(1_000);
    await store.createRun(newRun("done"));
    await store.appendFrames("done", 1, [...frames(2, "a"), { type: "result", payload: "{}" }], { step, finish: { status: "succeeded", response } });
    clock += 30_000; // expired, but the last sweep (at open) was 30 s ago
    await store.createRun(newRun("other"));
    expect(await store.getRun("done")).toBeUndefined();
    store.close();
    expect(rowCounts("done")).toEqual({ runs: 1, steps: 1, frames: 3 });

    const reopened = open(1_000); // sweeps at open
    reopened.close();
    expect(rowCounts("done")).toEqual({ runs: 0, steps: 0, frames: 0 });
    expect(rowCounts("other")).toEqual({ runs: 1, steps: 0, frames: 0 });
  });

  it("sweeps from createRun once a minute has passed", async () => {
    const store = open(1_000);
    await store.createRun(newRun("done"));
    await store.appendFrames("done", 1, frames(2, "a"), { step, finish: { status: "failed", response } });
    await store.createRun(newRun("running"));
    clock += MINUTE;
    await store.createRun(newRun("new"));
    store.close();
    expect(rowCounts("done")).toEqual({ runs: 0, steps: 0, frames: 0 });
    expect(rowCounts("running")).toEqual({ runs: 1, steps: 0, frames: 0 });
  });

  it("lets a new run reuse the id of an expired one", async () => {
    const store = open(1_000);
    await store.createRun(newRun("same"));
    await store.appendFrames("same", 1, frames(2, "a"), { step, finish: { status: "succeeded", response } });
    await expect(store.createRun(newRun("same"))).rejects.toMatchObject({ name: "DurableError", code: "RUN_EXISTS" });
    clock += 1_000;
    const created = await store.createRun(newRun("same"));
    expect(created).toMatchObject({ status: "running", epoch: 1, frameCount: 0 });
    expect(await store.listSteps("same")).toEqual([]);
    expect(await store.readFrames("same", undefined, 10)).toEqual([]);
  });
});

describe("SqliteRunStore options", () => {
  it.each([
    [undefined, /pass options/],
    [{}, /"path" must be the database file's path/],
    [{ path: "" }, /"path" must be the database file's path/],
    [{ path: "x.db", retention: -1 }, /"retention" must be milliseconds >= 0/],
    [{ path: "x.db", retention: Number.NaN }, /"retention" must be milliseconds >= 0/],
    [{ path: "x.db", now: 5 }, /"now" must be a function/],
  ])("refuses %j with an InvalidOptionsError that says what to pass", (options, message) => {
    let error: unknown;
    try {
      new SqliteRunStore(options as never);
    } catch (caught) {
      error = caught;
    }
    expect(InvalidOptionsError.isInstance(error) && error.code).toBe("INVALID_OPTIONS");
    expect((error as Error).message).toMatch(message);
  });

  it("says when the directory is missing or the file is not a store", () => {
    expect(() => new SqliteRunStore({ path: join(directory, "missing", "runs.db") })).toThrow(/existing, writable directory/);
    const text = join(directory, "notes.txt");
    writeFileSync(text, "not a database, just some text that is long enough to have a header".repeat(20));
    expect(() => new SqliteRunStore({ path: text })).toThrow(/not a SQLite store file/);
  });

  it("creates the file with WAL, and leaves no shared-memory file (exclusive locking)", async () => {
    const store = open();
    await store.createRun(newRun("run-1"));
    store.close();
    const database = new Database(path, { readonly: true });
    try {
      expect(database.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(database.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    } finally {
      database.close();
    }
  });
});

interface ChildStore {
  readonly process: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
}

/** Runs a store in another Node process that writes a run, says "ready", and waits to be killed. */
function startChildStore(file: string, now: number): ChildStore {
  const source = dirname(fileURLToPath(import.meta.url));
  const storeModule = join(source, "sqlite-store.ts");
  const script = `
    const { SqliteRunStore } = await import(${JSON.stringify(storeModule)});
    const store = new SqliteRunStore({ path: ${JSON.stringify(file)}, now: () => ${now} });
    await store.createRun(${JSON.stringify(newRun("crashed", { leaseExpiresAt: now + 60 * MINUTE, createdAt: now }))});
    await store.appendFrames("crashed", 1, ${JSON.stringify(frames(3, "x"))}, { step: ${JSON.stringify(step)}, outsideCommitted: 2 });
    process.stdout.write("ready\\n");
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ["--conditions=@durastream/source", "--import", "tsx", "--input-type=module", "-e", script], {
    cwd: dirname(source), // the package, where tsx (a dev dependency) resolves
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) resolve();
    });
    void exited.then(() => reject(new Error(`The child store exited before it was ready:\n${stderr}`)));
  });
  return { process: child, ready, exited };
}
