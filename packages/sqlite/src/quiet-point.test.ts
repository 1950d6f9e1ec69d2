// Issue 12, "Resume cost", on SQLite: the schema upgrade that adds a run's quiet point, and a
// takeover of a run from an older file (which has none: the first scan reads the whole log).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { createDurable, step, stream } from "@durastream/server";
import type { RequestSnapshot } from "@durastream/server/store";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SCHEMA_VERSION } from "./schema.js";
import { SqliteRunStore } from "./sqlite-store.js";

const request: RequestSnapshot = { method: "POST", url: "https://app.example/api/chat", headers: [], body: "x".repeat(10_000), bodyEncoding: "text" };
const data = (text: string) => ({ type: "data" as const, payload: `{"step":null,"data":${JSON.stringify(text)}}` });

let directory: string;
let path: string;
const opened: SqliteRunStore[] = [];

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), "durastream-quiet-"));
  path = join(directory, "runs.db");
});

afterEach(() => {
  for (const store of opened.splice(0)) store.close();
  rmSync(directory, { recursive: true, force: true });
});

function open(): SqliteRunStore {
  const store = new SqliteRunStore({ path });
  opened.push(store);
  return store;
}

/** Makes the closed file what version 3 wrote: no quiet point columns (nor run keys). */
function downgradeToVersion3(): void {
  const database = new Database(path);
  database.exec("ALTER TABLE runs DROP COLUMN quiet_offset; ALTER TABLE runs DROP COLUMN quiet_rollbacks; ALTER TABLE runs DROP COLUMN outside_pending;");
  database.exec("DROP INDEX runs_active_key; ALTER TABLE runs DROP COLUMN run_key;"); // run keys came with version 5
  database.pragma("user_version = 3");
  database.close();
}

describe("SqliteRunStore quiet points", () => {
  it("upgrades a version 3 file: its runs have no quiet point until a takeover (or a suspension) records one", async () => {
    const first = open();
    const now = Date.now();
    await first.createRun({ runId: "r1", endpointId: "chat", createdAt: now, request, owner: "p1", leaseExpiresAt: now + 30_000 });
    await first.appendFrames("r1", 1, [data("a"), data("b"), { type: "commit", payload: '{"step":null}' }], { suspend: { wakeAt: now } });
    expect((await first.getRun("r1"))!.quiet).toEqual({ offset: "1-3", rollbacks: [] });
    first.close();
    downgradeToVersion3();

    const store = open();
    const record = (await store.getRun("r1"))!;
    expect(record.quiet).toBeUndefined();
    expect(record.request).toEqual(request);
    const { request: _request, ...summary } = record;
    expect(await store.getRunSummary("r1")).toEqual(summary);
    const claimed = (await store.claimRun("r1", "p2", Date.now() + 30_000, Date.now()))!;
    expect(claimed.quiet).toBeUndefined();
    await store.appendFrames("r1", 2, [{ type: "rollback", payload: '{"step":null,"attempt":1,"willRetry":true,"error":{"name":"E","message":"m"}}' }], {
      quiet: { rollbacks: [{ hashedStepId: null, attempt: 1 }] },
    });
    expect((await store.getRun("r1"))!.quiet).toEqual({ offset: "2-4", rollbacks: [{ hashedStepId: null, attempt: 1 }] });
    store.close();
    const check = new Database(path, { readonly: true });
    expect(check.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    check.close();
  });

  it("a run of an older file is taken over with one scan of its whole log; its next resume reads from the quiet point", async () => {
    let store = open();
    let runId = "";
    let executions = 0;
    const handler = async (_request: Request, context: { runId: string }) => {
      runId = context.runId;
      executions += 1;
      await step.run("big", () => {
        for (let index = 0; index < 1_500; index += 1) stream.push(index);
      });
      await step.sleep("nap", 200);
      await step.sleep("again", 400);
      return "done";
    };
    let durable = createDurable({ store, secret: "quiet-point-test-secret", maxInlineWait: 50, pollInterval: 60_000 });
    const response = await durable.endpoint(handler, { id: "older" })(new Request("http://app.test/work", { method: "POST" }));
    expect(response.status).toBe(303);
    await durable.close({ timeout: 1_000 });
    downgradeToVersion3();

    store = open();
    const reads: { after: string | undefined; returned: number }[] = [];
    const readFrames = store.readFrames.bind(store);
    store.readFrames = async (...args) => {
      const entries = await readFrames(...args);
      reads.push({ after: args[1], returned: entries.length });
      return entries;
    };
    durable = createDurable({ store, secret: "quiet-point-test-secret", maxInlineWait: 50, pollInterval: 20 });
    durable.endpoint(handler, { id: "older" });
    const started = Date.now();
    while ((await store.getRun(runId))?.result === undefined) {
      if (Date.now() - started > 10_000) throw new Error("the run did not finish");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await durable.close({ timeout: 1_000 });
    expect(executions).toBe(3);
    // The first resume had no quiet point: it read the whole log (1,500 chunks and a commit) in
    // pages and recorded one at its end; the second read from the one its suspension moved.
    expect(reads.slice(0, 2)).toEqual([
      { after: undefined, returned: 1000 },
      { after: "1-1000", returned: 501 },
    ]);
    expect(reads.slice(2)).toEqual([{ after: "2-1501", returned: 0 }]);
  });
});
