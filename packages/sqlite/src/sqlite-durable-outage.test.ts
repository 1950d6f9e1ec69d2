// A durable endpoint on SQLite over real HTTP while the database file cannot be written for a while
// (`PRAGMA query_only` on the store's own connection makes every write fail with SQLITE_READONLY,
// as a read-only remount or a failing disk would; tests run as root, so chmod would not stop
// writes). The run goes on once writes work again, and the client ends with the exact output.
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fetchWithStream } from "@durastream/client";
import { createDurable, step, stream, type BackgroundError, type Durable } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { until } from "@durastream/testing";
import { afterEach, expect, it } from "vitest";
import { SqliteRunStore, connectionForTesting } from "./sqlite-store.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

async function serve(durable: Durable, handler: Parameters<Durable["endpoint"]>[0]) {
  const endpoint = durable.endpoint(handler, { id: "story" });
  const waitEndpoint = durable.waitEndpoint();
  const server = createEndpointServer((request) => (new URL(request.url).pathname.startsWith("/api/durable/") ? waitEndpoint(request) : endpoint(request)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/story`;
}

/** Runs a request through fetchWithStream and keeps the client's committed view. */
function follow(url: string) {
  const committed: unknown[] = [];
  const pending = new Map<string | null, unknown[]>();
  const rollbacks: number[] = [];
  const data: unknown[] = [];
  const done = fetchWithStream(url, {
    fetchOpts: { method: "POST" },
    reconnect: { initialDelay: 0 },
    onData: ({ data: chunk, hashedStepId }) => {
      data.push(chunk);
      pending.set(hashedStepId, [...(pending.get(hashedStepId) ?? []), chunk]);
    },
    onCommit: ({ hashedStepId }) => {
      committed.push(...(pending.get(hashedStepId) ?? []));
      pending.delete(hashedStepId);
    },
    onRollback: ({ hashedStepId, attempt }) => {
      rollbacks.push(attempt);
      pending.delete(hashedStepId);
    },
  });
  return { committed, rollbacks, data, done };
}

function setup() {
  const directory = mkdtempSync(join(tmpdir(), "durastream-sqlite-outage-"));
  const store = new SqliteRunStore({ path: join(directory, "runs.sqlite") });
  const errors: BackgroundError[] = [];
  const durable = createDurable({ store, secret: "sqlite-outage-test-secret", backoff: () => 0, onError: (report) => errors.push(report) });
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  cleanups.push(() => durable.close({ timeout: 0 }));
  const writable = (yes: boolean) => connectionForTesting(store).pragma(`query_only = ${yes ? 0 : 1}`);
  return { durable, errors, writable };
}

it("a commit that cannot be written while the file is read-only is stored once writes work again; the step runs once", async () => {
  const { durable, errors, writable } = setup();
  const first = gate();
  const executions: string[] = [];
  const url = await serve(durable, async () => {
    await step.run("one", async () => {
      executions.push("one");
      stream.push("a");
      await first.promise;
    });
    await step.run("two", () => {
      executions.push("two");
      stream.push("b");
    });
    return Response.json({ ok: true });
  });
  const client = follow(url);
  await until(() => client.data.length === 1, "the first chunk");
  writable(false);
  first.open(); // the step's commit now fails: SQLITE_READONLY
  await until(() => errors.filter((error) => error.phase === "write").length >= 3, "three failed writes");
  expect(errors.every((error) => (error.error as { code?: string }).code === "STORE_UNAVAILABLE")).toBe(true);
  writable(true);
  const response = await client.done;
  expect(await response.json()).toEqual({ ok: true });
  expect(executions).toEqual(["one", "two"]);
  expect(client.rollbacks).toEqual([]);
  expect(client.committed).toEqual(["a", "b"]);
});

it("chunks that cannot be written fail their attempt; it is rolled back and retried once the file is writable, and the output is exact", async () => {
  const { durable, errors, writable } = setup();
  const first = gate();
  const attempts: number[] = [];
  const url = await serve(durable, async () => {
    await step.run("one", () => stream.push("a"));
    await step.run("two", async ({ attempt }) => {
      attempts.push(attempt);
      if (attempt === 1) await first.promise;
      stream.push(`b${attempt}`);
    });
    return Response.json({ ok: true });
  });
  const client = follow(url);
  await until(() => attempts.length === 1, "step two's first attempt");
  writable(false);
  first.open(); // its chunk cannot be stored: the attempt fails, and its rollback waits for the file
  await until(() => errors.some((error) => error.phase === "write"), "a failed write");
  writable(true);
  const response = await client.done;
  expect(await response.json()).toEqual({ ok: true });
  expect(attempts).toEqual([1, 2]);
  expect(client.rollbacks).toEqual([1]);
  expect(client.committed).toEqual(["a", "b2"]);
});
