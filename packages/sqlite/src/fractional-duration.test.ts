// Fractional durations on SQLite, end to end over loopback HTTP: the store keeps times as whole
// milliseconds rounded up (as every store does), instead of failing with "cannot store REAL value
// in INTEGER column".
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fetchWithStream } from "@durastream/client";
import { createDurable, step, stream } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteRunStore } from "./sqlite-store.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serveOnSqlite(handler: () => Promise<Response>) {
  const directory = mkdtempSync(join(tmpdir(), "durastream-fractional-"));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const store = new SqliteRunStore({ path: join(directory, "runs.db") });
  const durable = createDurable({ store, backoff: () => 0 });
  cleanups.push(() => durable.close());
  const endpoint = durable.endpoint(handler, { id: "fractional" });
  const waitEndpoint = durable.waitEndpoint();
  const server = createEndpointServer((request) => (new URL(request.url).pathname.startsWith("/api/durable/") ? waitEndpoint(request) : endpoint(request)));
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/run`, store };
}

describe("fractional durations on SQLite", () => {
  it('step.sleep("x", 10.5) and step.sleep("y", "0.0015s") sleep and finish; the journal keeps whole milliseconds', async () => {
    let runId = "";
    const { url, store } = await serveOnSqlite(async () => {
      await step.run("before", () => stream.push("a"));
      await step.sleep("x", 10.5);
      await step.sleep("y", "0.0015s");
      await step.run("after", () => stream.push("b"));
      return Response.json({ slept: true });
    });
    const chunks: unknown[] = [];
    const started = Date.now();
    const response = await fetchWithStream(url, {
      onMetadata: (metadata) => {
        runId = metadata.runId;
      },
      onData: ({ data }) => chunks.push(data),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ slept: true });
    expect(chunks).toEqual(["a", "b"]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(10);
    const sleeps = (await store.listSteps(runId)).filter((entry) => entry.kind === "sleep");
    expect(sleeps).toHaveLength(2);
    for (const entry of sleeps) expect(Number.isInteger(entry.wakeAt)).toBe(true);
  });
});
