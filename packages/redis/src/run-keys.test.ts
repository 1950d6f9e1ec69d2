// Run keys on Redis across instances: two app instances (each its own RedisRunStore on one Redis
// and prefix, each its own loopback HTTP server) get one request each with the same key at once:
// exactly one run starts, and both clients read its output; durable.attach finds it from either.
import type { AddressInfo } from "node:net";
import { fetchWithStream } from "@durastream/client";
import { createDurable, step, stream, type DurableHandler } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { collectFrames, committedData, until } from "@durastream/testing";
import { afterEach, describe, expect, it } from "vitest";
import { RedisRunStore } from "./redis-store.js";
import { deleteKeys, redisUrlForTests, skipWithoutRedis, uniquePrefix } from "./redis-test-support.js";

const url = await redisUrlForTests();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** One app instance on `prefix`: the keyed endpoint at /api/chat, attach at /api/chat/<id>/stream, the wait endpoint. */
async function instance(redisUrl: string, prefix: string, handler: DurableHandler) {
  const store = new RedisRunStore({ url: redisUrl, prefix });
  const durable = createDurable({ store, secret: "run-keys-redis-test-secret", backoff: () => 0 });
  const endpoint = durable.endpoint(handler, { id: "chat", key: async (request) => ((await request.json()) as { id: string }).id });
  const wait = durable.waitEndpoint();
  const server = createEndpointServer(async (request) => {
    const { pathname } = new URL(request.url);
    if (pathname.startsWith("/api/durable/")) return wait(request);
    const resume = /^\/api\/chat\/([^/]+)\/stream$/.exec(pathname);
    if (resume !== null) return (await durable.attach("chat", decodeURIComponent(resume[1]!), request)) ?? new Response(null, { status: 204 });
    return endpoint(request);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.unshift(async () => {
    server.closeAllConnections();
    server.close();
    await durable.close({ timeout: 1_000 });
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/chat`, store };
}

if (url === undefined) {
  skipWithoutRedis();
} else {
  describe("RedisRunStore run keys across instances", () => {
    it("two concurrent requests with one key on two instances start one run; both clients get the same output", async () => {
      const prefix = uniquePrefix("run-keys");
      cleanups.push(() => deleteKeys(url, prefix));
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let executions = 0;
      const handler: DurableHandler = async (request) => {
        const { id } = (await request.json()) as { id: string };
        executions += 1;
        const text = await step.run("answer", async () => {
          stream.push("x");
          await released;
          stream.push("y");
          return "xy";
        });
        return Response.json({ id, text });
      };
      const one = await instance(url, prefix, handler);
      const two = await instance(url, prefix, handler);
      let streaming = 0;
      const read = async (endpointUrl: string) => {
        let runId = "";
        const data: unknown[] = [];
        const response = await fetchWithStream(endpointUrl, {
          fetchOpts: { method: "POST", body: JSON.stringify({ id: "c1" }) },
          onMetadata: (metadata) => {
            runId = metadata.runId;
            streaming += 1;
          },
          onData: ({ data: chunk }) => void data.push(chunk),
        });
        return { runId, data, body: await response.json() };
      };
      const both = Promise.all([read(one.url), read(two.url)]);
      await until(() => streaming === 2, "both clients streaming");
      const runId = await one.store.findActiveRunByKey("chat", "c1");
      expect(runId).toBeDefined();
      expect(await two.store.findActiveRunByKey("chat", "c1")).toBe(runId);
      // The resume route of either instance serves it (SSE: the response starts at once).
      const resumed = await fetch(`${two.url}/c1/stream`, { headers: { accept: "text/event-stream" } });
      expect(resumed.status).toBe(200);
      const frames = collectFrames(resumed);
      release();
      const [a, b] = await both;
      expect(executions).toBe(1);
      expect(a.runId).toBe(runId);
      expect(b.runId).toBe(runId);
      expect(a.data).toEqual(["x", "y"]);
      expect(b.data).toEqual(["x", "y"]);
      expect(a.body).toEqual({ id: "c1", text: "xy" });
      expect(b.body).toEqual(a.body);
      const collected = await frames;
      expect(collected[0]).toMatchObject({ type: "metadata", runId });
      expect(committedData(collected)).toEqual(["x", "y"]);
      expect(collected.at(-1)).toMatchObject({ type: "result", status: "succeeded" });
      // Over: the key is free, on both instances.
      expect(await one.store.findActiveRunByKey("chat", "c1")).toBeUndefined();
      expect((await fetch(`${one.url}/c1/stream`)).status).toBe(204);
      const again = await read(two.url);
      expect(again.runId).not.toBe(runId);
      expect(executions).toBe(2);
    });
  });
}
