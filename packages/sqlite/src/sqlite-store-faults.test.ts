import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { DurableError, type RunStore } from "@durastream/server";
import { StoreRefusedError, type NewRun, type RequestSnapshot, type StepRecord } from "@durastream/server/store";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SqliteRunStore, connectionForTesting } from "./sqlite-store.js";

// Faults an operator meets (disk full, read-only file, I/O errors, a closed store), produced on the
// store's own connection: the store holds the file's exclusive lock, so a second connection cannot
// even read the file, and the tests run as root, so chmod would not stop a write.

const START = 1_700_000_000_000;
const request: RequestSnapshot = { method: "POST", url: "https://app.example/api/chat", headers: [], body: '{"prompt":"hi"}', bodyEncoding: "text" };
const waiting: StepRecord = {
  hashedStepId: "b".repeat(40),
  stepId: "paid",
  position: 1,
  kind: "wait-for-event",
  status: "waiting",
  attempts: 0,
  wakeAt: START + 60_000,
  event: "order/paid",
};

let directory: string;
let path: string;
const opened: SqliteRunStore[] = [];

function open(): SqliteRunStore {
  const store = new SqliteRunStore({ path, now: () => START });
  opened.push(store);
  return store;
}

function newRun(runId: string, body: string | null = request.body): NewRun {
  return { runId, endpointId: "POST /api/chat", createdAt: START, request: { ...request, body }, owner: "process-1", leaseExpiresAt: START + 30_000 };
}

/** `count` data frames of about `size` characters each. */
function frames(count: number, prefix: string, size = 100) {
  return Array.from({ length: count }, (_, index) => ({ type: "data" as const, payload: JSON.stringify({ data: `${prefix}${index}:`.padEnd(size, "x") }) }));
}

/** What a reader sees of a run: its record, journal and log. */
async function snapshot(store: RunStore, runId: string) {
  return { run: await store.getRun(runId), steps: await store.listSteps(runId), log: await store.readFrames(runId, undefined, 10_000) };
}

/** The rejection of `promise` (fails the test when it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

function expectUnavailable(error: unknown, sqliteCode: string, message: RegExp): asserts error is DurableError {
  expect(DurableError.isInstance(error)).toBe(true);
  const durable = error as DurableError;
  expect(durable.code).toBe("STORE_UNAVAILABLE");
  expect(durable.message).toMatch(message);
  expect(durable.message).toContain(`(${sqliteCode}: `);
  expect(durable.message).toContain(path);
  expect((durable.cause as { code?: unknown }).code).toBe(sqliteCode);
}

/** Makes every INSERT into `table` (matching `when`) on the store's connection throw `error`. */
function failInserts(store: SqliteRunStore, table: string, error: unknown, when = "1"): () => void {
  const database = connectionForTesting(store);
  database.function("durastream_test_fail", () => {
    throw error;
  });
  database.exec(`CREATE TEMP TRIGGER durastream_test_fail BEFORE INSERT ON main.${table} WHEN ${when} BEGIN SELECT durastream_test_fail(); END`);
  return () => database.exec("DROP TRIGGER temp.durastream_test_fail");
}

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), "durastream-sqlite-faults-"));
  path = join(directory, "runs.db");
});

afterEach(() => {
  for (const store of opened.splice(0)) store.close();
  rmSync(directory, { recursive: true, force: true });
});

describe("SqliteRunStore when the disk is full", () => {
  it("rejects writes with STORE_UNAVAILABLE, writes nothing of them, and works again once space is freed", async () => {
    const store = open();
    const database = connectionForTesting(store);
    await store.createRun(newRun("run-1"));
    await store.appendFrames("run-1", 1, frames(3, "a"), { outsideCommitted: 3 });

    // The "disk": the file may grow by 16 pages (of 4 KiB) from here, and no further.
    const pages = database.pragma("page_count", { simple: true }) as number;
    expect(database.pragma(`max_page_count = ${pages + 16}`, { simple: true })).toBe(pages + 16);
    // Count frame rows inserted, so the test can tell that the failing append had written some
    // frames (it failed mid-transaction) before the disk filled.
    let inserted = 0;
    database.function("durastream_test_count", () => {
      inserted += 1;
      return null;
    });
    database.exec("CREATE TEMP TRIGGER durastream_test_count AFTER INSERT ON main.frames BEGIN SELECT durastream_test_count(); END");

    // Append batches of 10 frames of ~1 KiB (with a journal entry) until the disk is full.
    let before = await snapshot(store, "run-1");
    let failure: unknown;
    for (let batch = 0; batch < 100 && failure === undefined; batch += 1) {
      const step: StepRecord = {
        hashedStepId: batch.toString(16).padStart(40, "0"),
        stepId: `s${batch}`,
        position: batch,
        kind: "run",
        status: "succeeded",
        output: `${batch}`,
        attempts: 1,
      };
      inserted = 0;
      try {
        await store.appendFrames("run-1", 1, frames(10, `b${batch}-`, 1000), { step, outsideCommitted: 3 + 10 * (batch + 1) });
        before = await snapshot(store, "run-1");
      } catch (error) {
        failure = error;
      }
    }

    expectUnavailable(
      failure,
      "SQLITE_FULL",
      /^SqliteRunStore: writing \S+runs\.db failed in appendFrames \(SQLITE_FULL: database or disk is full\)\. .*Free disk space/,
    );
    expect(failure.cause).toBeInstanceOf(Database.SqliteError);
    expect(inserted).toBeGreaterThan(0); // frames of the failed call were inserted, then rolled back
    // Nothing of the failed append: frame count, journal and log are as after the last good one.
    expect(await snapshot(store, "run-1")).toEqual(before);
    expect(before.run!.frameCount).toBe(before.log.length);
    expect(before.log.length).toBeGreaterThan(3); // some batches fitted before the disk filled
    expect(database.inTransaction).toBe(false);
    expect(database.pragma("page_count", { simple: true })).toBeLessThanOrEqual(pages + 16);

    // Other writes that need space fail the same way, and leave nothing behind either.
    const big = await rejectionOf(store.createRun(newRun("run-2", "x".repeat(64 * 1024))));
    expectUnavailable(big, "SQLITE_FULL", /failed in createRun .*Free disk space/);
    expect(await store.getRun("run-2")).toBeUndefined();
    // Reads still work on a full disk.
    expect((await store.readFrames("run-1", undefined, 10_000)).length).toBe(before.log.length);

    // Space freed: the same store object writes again; offsets go on where the log stopped.
    database.pragma("max_page_count = 1000000");
    const last = before.run!.frameCount;
    await expect(store.appendFrames("run-1", 1, frames(10, "c", 1000))).resolves.toBe(`1-${last + 10}`);
    await expect(store.createRun(newRun("run-2", "x".repeat(64 * 1024)))).resolves.toMatchObject({ runId: "run-2", status: "running" });
    const log = await store.readFrames("run-1", undefined, 10_000);
    expect(log.map((entry) => entry.offset)).toEqual(Array.from({ length: last + 10 }, (_, index) => `1-${index + 1}`));

    // And the file agrees after a reopen.
    store.close();
    const reopened = open();
    expect((await reopened.getRun("run-1"))!.frameCount).toBe(last + 10);
    expect(await reopened.readFrames("run-1", undefined, 10_000)).toEqual(log);
    expect((await reopened.listSteps("run-1")).length).toBe(before.steps.length);
  });
});

describe("SqliteRunStore when the file cannot be written", () => {
  it("rejects every write with STORE_UNAVAILABLE (SQLITE_READONLY) while reads go on, and writes again afterwards", async () => {
    const store = open();
    const database = connectionForTesting(store);
    await store.createRun(newRun("run-1"));
    await store.appendFrames("run-1", 1, frames(2, "a"), { step: waiting, suspend: { wakeAt: START + 60_000 } });
    const before = await snapshot(store, "run-1");

    // query_only makes SQLite refuse writes on this connection as it does on a read-only file.
    database.pragma("query_only = 1");
    const writes: Array<[string, Promise<unknown>]> = [
      ["createRun", store.createRun(newRun("run-2"))],
      ["appendFrames", store.appendFrames("run-1", 1, frames(1, "b"))],
      ["claimRun", store.claimRun("run-1", "process-2", START + 90_000, START + 60_000)],
      ["renewLease", store.renewLease("run-1", "process-1", 1, START + 60_000)],
      ["deliverEvent", store.deliverEvent({ name: "order/paid" }, START + 1_000)],
    ];
    for (const [method, promise] of writes) {
      const error = await rejectionOf(promise);
      expectUnavailable(error, "SQLITE_READONLY", new RegExp(`^SqliteRunStore: writing \\S+ failed in ${method} .*mounted .*read-only`));
    }
    expect(await snapshot(store, "run-1")).toEqual(before);
    expect(await store.getRun("run-2")).toBeUndefined();
    expect(await store.nextWakeAt()).toBe(START + 60_000);
    expect(await store.listResumableRuns(START + 60_000, 10)).toEqual([{ runId: "run-1", endpointId: "POST /api/chat", dueAt: START + 60_000 }]);

    database.pragma("query_only = 0");
    await expect(store.deliverEvent({ name: "order/paid" }, START + 1_000)).resolves.toEqual(["run-1"]);
    await expect(store.createRun(newRun("run-2"))).resolves.toMatchObject({ runId: "run-2" });
    await expect(store.appendFrames("run-2", 1, frames(1, "c"))).resolves.toBe("1-1");
  });
});

describe("SqliteRunStore SQLite errors", () => {
  const faults: Array<[code: string, message: string, advice: RegExp]> = [
    ["SQLITE_IOERR_WRITE", "disk I/O error", /I\/O error on .*dmesg/],
    ["SQLITE_IOERR_FSYNC", "disk I/O error", /I\/O error on /],
    ["SQLITE_FULL", "database or disk is full", /Free disk space/],
    ["SQLITE_BUSY", "database is locked", /locked past the busy timeout/],
    ["SQLITE_LOCKED", "database table is locked", /locked past the busy timeout/],
    ["SQLITE_READONLY_DBMOVED", "attempt to write a readonly database", /moved or replaced/],
    ["SQLITE_CANTOPEN", "unable to open database file", /cannot be opened.*still exists/],
  ];

  for (const [code, message, advice] of faults) {
    it(`turns ${code} into STORE_UNAVAILABLE with the error as cause, writing nothing`, async () => {
      const store = open();
      await store.createRun(newRun("run-1"));
      await store.appendFrames("run-1", 1, frames(2, "a"));
      const before = await snapshot(store, "run-1");
      const thrown = new Database.SqliteError(message, code);
      // The third frame of the next append fails: two frames were inserted in its transaction.
      const restore = failInserts(store, "frames", thrown, "NEW.sequence = 5");

      const outcome = store.appendFrames("run-1", 1, frames(3, "b"), { step: waiting });
      expect(outcome).toBeInstanceOf(Promise);
      const error = await rejectionOf(outcome);
      expectUnavailable(error, code, advice);
      expect(error.cause).toBe(thrown);
      expect(await snapshot(store, "run-1")).toEqual(before);

      restore();
      await expect(store.appendFrames("run-1", 1, frames(3, "b"), { step: waiting })).resolves.toBe("1-5");
    });
  }

  it("passes other errors on as they are: constraint violations, programming errors, refusals", async () => {
    const store = open();
    await store.createRun(newRun("run-1"));

    const constraint = new Database.SqliteError("UNIQUE constraint failed: frames.run_id, frames.sequence", "SQLITE_CONSTRAINT_PRIMARYKEY");
    let restore = failInserts(store, "frames", constraint);
    expect(await rejectionOf(store.appendFrames("run-1", 1, frames(1, "a")))).toBe(constraint);
    restore();

    const bug = new TypeError("a bug");
    restore = failInserts(store, "runs", bug);
    expect(await rejectionOf(store.createRun(newRun("run-2")))).toBe(bug);
    restore();

    const fenced = await rejectionOf(store.appendFrames("run-1", 2, frames(1, "a")));
    expect(StoreRefusedError.isInstance(fenced) && fenced.reason).toBe("fenced");
    const duplicate = await rejectionOf(store.createRun(newRun("run-1")));
    expect(DurableError.isInstance(duplicate) && duplicate.code).toBe("RUN_EXISTS");
    await expect(store.readFrames("run-1", "not-an-offset", 10)).rejects.not.toMatchObject({ code: "STORE_UNAVAILABLE" });
    expect((await store.getRun("run-1"))!.frameCount).toBe(0);
  });
});

describe("SqliteRunStore after close()", () => {
  it("rejects every method with STORE_UNAVAILABLE, never throwing synchronously", async () => {
    const store = open();
    await store.createRun(newRun("run-1"));
    store.close();

    const calls: Array<[string, () => Promise<unknown>]> = [
      ["createRun", () => store.createRun(newRun("run-2"))],
      ["getRun", () => store.getRun("run-1")],
      ["listSteps", () => store.listSteps("run-1")],
      ["appendFrames", () => store.appendFrames("run-1", 1, frames(1, "a"))],
      ["readFrames", () => store.readFrames("run-1", undefined, 10)],
      ["claimRun", () => store.claimRun("run-1", "process-2", START + 30_000, START)],
      ["renewLease", () => store.renewLease("run-1", "process-1", 1, START + 30_000)],
      ["listResumableRuns", () => store.listResumableRuns(START, 10)],
      ["nextWakeAt", () => store.nextWakeAt()],
      ["deliverEvent", () => store.deliverEvent({ name: "order/paid" }, START)],
    ];
    for (const [method, call] of calls) {
      let promise: Promise<unknown> | undefined;
      expect(() => {
        promise = call();
      }).not.toThrow();
      const error = await rejectionOf(promise!);
      expect(DurableError.isInstance(error) && error.code).toBe("STORE_UNAVAILABLE");
      expect((error as Error).message).toBe(
        `SqliteRunStore: ${method} was called after close(); ${path} is closed. Stop using this store once it is closed (close it only at shutdown), or create a new SqliteRunStore for the file.`,
      );
      expect((error as Error).cause).toBeInstanceOf(TypeError);
    }
    expect(() => store.subscribe("run-1", () => {})()).not.toThrow();
    expect(() => store.close()).not.toThrow();
  });
});
