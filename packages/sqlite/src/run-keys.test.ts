// Run keys on SQLite: the schema upgrade of a version 4 file (run keys came with version 5), and
// concurrent requests with one key over loopback HTTP starting exactly one run.
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { fetchWithStream } from "@durastream/client";
import { createDurable, step, stream } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { RunKeyTakenError, type NewRun, type RequestSnapshot } from "@durastream/server/store";
import { until } from "@durastream/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SCHEMA_VERSION } from "./schema.js";
import { SqliteRunStore } from "./sqlite-store.js";

const request: RequestSnapshot = { method: "POST", url: "https://app.example/api/chat", headers: [], body: '{"id":"c1"}', bodyEncoding: "text" };
const newRun = (runId: string, extra: Partial<NewRun> = {}): NewRun => ({
  runId,
  endpointId: "chat",
  createdAt: Date.now(),
  request,
  owner: "p1",
  leaseExpiresAt: Date.now() + 30_000,
  ...extra,
});

let directory: string;
let path: string;
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), "durastream-keys-"));
  path = join(directory, "runs.db");
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  rmSync(directory, { recursive: true, force: true });
});

function open(): SqliteRunStore {
  const store = new SqliteRunStore({ path });
  cleanups.push(() => store.close());
  return store;
}

/** Makes the closed file what version 4 wrote: no run key column, no index of keys. */
function downgradeToVersion4(): void {
  const database = new Database(path);
  database.exec("DROP INDEX runs_active_key; ALTER TABLE runs DROP COLUMN run_key;");
  database.pragma("user_version = 4");
  database.close();
}

describe("SqliteRunStore run keys", () => {
  it("upgrades a version 4 file in place: its runs stay (without keys), and keys work at once", async () => {
    expect(SCHEMA_VERSION).toBe(5);
    const first = open();
    await first.createRun(newRun("old-running"));
    await first.createRun(newRun("old-suspended"));
    await first.appendFrames("old-suspended", 1, [{ type: "data", payload: '{"step":null,"data":"x"}' }], { suspend: { wakeAt: Date.now() + 60_000 } });
    first.close();
    downgradeToVersion4();
    const before = new Database(path, { readonly: true });
    expect(before.pragma("user_version", { simple: true })).toBe(4);
    expect((before.prepare("SELECT name FROM pragma_table_info('runs')").pluck().all() as string[]).includes("run_key")).toBe(false);
    before.close();

    const store = open();
    expect(await store.getRun("old-running")).toMatchObject({ status: "running", request });
    expect((await store.getRun("old-running"))!.key).toBeUndefined();
    expect(await store.getRun("old-suspended")).toMatchObject({ status: "suspended", frameCount: 1 });
    const keyed = await store.createRun(newRun("new-keyed", { key: "c1" }));
    expect(keyed.key).toBe("c1");
    expect(await store.findActiveRunByKey("chat", "c1")).toBe("new-keyed");
    await expect(store.createRun(newRun("new-again", { key: "c1" }))).rejects.toSatisfy(
      (error: unknown) => RunKeyTakenError.isInstance(error) && error.activeRunId === "new-keyed",
    );
    store.close();

    const check = new Database(path, { readonly: true });
    expect(check.pragma("user_version", { simple: true })).toBe(5);
    expect(check.prepare("SELECT sql FROM sqlite_master WHERE name = 'runs_active_key'").pluck().get()).toMatch(
      /CREATE UNIQUE INDEX runs_active_key ON runs \(endpoint_id, run_key\) WHERE run_key IS NOT NULL AND status IN \('running', 'suspended'\)/,
    );
    // The index serves the lookup of a key's holder.
    const plan = check
      .prepare(
        "EXPLAIN QUERY PLAN SELECT run_id FROM runs WHERE endpoint_id = ? AND run_key = ? AND run_key IS NOT NULL AND status IN ('running', 'suspended')",
      )
      .all("chat", "c1") as { detail: string }[];
    expect(plan.map((row) => row.detail).join(" ")).toMatch(/runs_active_key/);
    check.close();
  });

  it("keeps the key of a run across a restart of the store, until the run finishes", async () => {
    const first = open();
    await first.createRun(newRun("r1", { key: "c1" }));
    first.close();
    const store = open();
    expect(await store.findActiveRunByKey("chat", "c1")).toBe("r1");
    const claimed = (await store.claimRun("r1", "p2", Date.now() + 30_000, Date.now()))!;
    expect(claimed.key).toBe("c1");
    await store.appendFrames("r1", claimed.epoch, [{ type: "result", payload: "{}" }], {
      finish: { status: "succeeded", response: { status: 200, statusText: "", headers: [], body: "", bodyEncoding: "text" } },
    });
    expect(await store.findActiveRunByKey("chat", "c1")).toBeUndefined();
    expect((await store.createRun(newRun("r2", { key: "c1" }))).key).toBe("c1");
  });

  it("two concurrent requests with one key start one run over HTTP; both clients read the same output", async () => {
    const store = open();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let executions = 0;
    const durable = createDurable({ store, secret: "run-keys-sqlite-test-secret" });
    const endpoint = durable.endpoint(
      async (incoming) => {
        const { id } = (await incoming.json()) as { id: string };
        executions += 1;
        const text = await step.run("answer", async () => {
          stream.push("x");
          await released;
          stream.push("y");
          return "xy";
        });
        return Response.json({ id, text });
      },
      { id: "chat", key: async (incoming) => ((await incoming.json()) as { id: string }).id },
    );
    const wait = durable.waitEndpoint();
    const server = createEndpointServer((incoming) => (new URL(incoming.url).pathname.startsWith("/api/durable/") ? wait(incoming) : endpoint(incoming)));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.unshift(async () => {
      server.closeAllConnections();
      server.close();
      await durable.close({ timeout: 1_000 });
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/chat`;
    let streaming = 0;
    const read = async () => {
      let runId = "";
      const data: unknown[] = [];
      const response = await fetchWithStream(url, {
        fetchOpts: { method: "POST", body: JSON.stringify({ id: "c1" }) },
        onMetadata: (metadata) => {
          runId = metadata.runId;
          streaming += 1;
        },
        onData: ({ data: chunk }) => void data.push(chunk),
      });
      return { runId, data, body: await response.json() };
    };
    const both = Promise.all([read(), read()]);
    await until(() => streaming === 2, "both clients streaming");
    release();
    const [a, b] = await both;
    expect(executions).toBe(1);
    expect(a.runId).toBe(b.runId);
    expect(a.data).toEqual(["x", "y"]);
    expect(b.data).toEqual(["x", "y"]);
    expect(a.body).toEqual({ id: "c1", text: "xy" });
    expect(b.body).toEqual(a.body);
    expect(await store.findActiveRunByKey("chat", "c1")).toBeUndefined();
  });
});
