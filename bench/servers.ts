// Benchmark servers, run in a child process so the client under test has its own event loop.
// Usage: node --import tsx bench/servers.ts (after `pnpm build`)
// Prints one JSON line {"raw": port, "durable": port} once both listen.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { encodeFrame, hashStepId, PROTOCOL_VERSION } from "@durastream/protocol";
import { encodeDataPayload } from "@durastream/protocol/internal";
import { createDurable, step, stream } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";

const TOKEN = "tok";

async function* tokens(count: number): AsyncGenerator<string> {
  for (let index = 0; index < count; index += 1) yield TOKEN;
}

function chunkCount(request: { url?: string | undefined }): number {
  return Number(new URL(request.url ?? "/", "http://localhost").searchParams.get("chunks") ?? "1000");
}

/** The physical limit: a hand-written SSE endpoint writing the same frames straight to the socket. */
async function rawServer(): Promise<http.Server> {
  const hashed = await hashStepId("generate");
  return http.createServer(async (request, response) => {
    const count = chunkCount(request);
    response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
    response.write(encodeFrame({ type: "metadata", runId: "raw", protocolVersion: PROTOCOL_VERSION, resumeUrl: null }));
    let sequence = 0;
    const tokenJson = JSON.stringify(TOKEN);
    for await (const token of tokens(count)) {
      const ok = response.write(
        `event: data\nid: 1-${++sequence}\ndata: ${encodeDataPayload(hashed, token === TOKEN ? tokenJson : JSON.stringify(token))}\n\n`,
      );
      if (!ok) await new Promise((resolve) => response.once("drain", resolve));
    }
    response.write(encodeFrame({ type: "commit", offset: `1-${++sequence}`, hashedStepId: hashed }));
    response.end(
      encodeFrame({
        type: "result",
        offset: `1-${++sequence}`,
        status: "succeeded",
        response: { status: 200, statusText: "", headers: [["content-type", "application/json"]], body: '{"ok":true}', bodyEncoding: "text" },
      }),
    );
  });
}

function durableServer(): http.Server {
  const durable = createDurable({ backoff: () => 0 });
  const streaming = durable.endpoint(async (request) => {
    const count = chunkCount(request);
    await step.run("generate", () => stream.pipe(tokens(count)));
    return Response.json({ ok: true });
  });
  // Each step fails once; the error message carries the moment it was thrown (ms since the epoch,
  // fractional), so the client can tell how long the rollback frame took to reach it.
  const failing = durable.endpoint(async (request) => {
    const count = chunkCount(request);
    for (let index = 0; index < count; index += 1) {
      await step.run({ id: `fails-once-${index}`, retries: 1 }, ({ attempt }) => {
        if (attempt === 1) throw new Error(String(performance.timeOrigin + performance.now()));
      });
    }
    return Response.json({ ok: true });
  });
  const waitEndpoint = durable.waitEndpoint();
  return createEndpointServer((request) => {
    const { pathname } = new URL(request.url);
    if (pathname.startsWith("/api/durable/")) return waitEndpoint(request);
    if (pathname === "/rollbacks") return failing(request);
    return streaming(request);
  });
}

/** The same frames through Vercel's resumable-stream on Redis (node-redis clients), as its README shows. */
async function resumableServer(): Promise<http.Server> {
  const { createClient } = await import("redis");
  const { createResumableStreamContext } = await import("resumable-stream");
  const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const publisher = createClient({ url });
  const subscriber = createClient({ url });
  await Promise.all([publisher.connect(), subscriber.connect()]);
  const context = createResumableStreamContext({ waitUntil: null, publisher, subscriber, keyPrefix: `bench-${process.pid}` });
  const hashed = await hashStepId("generate");
  let streams = 0;
  return createEndpointServer(async (request) => {
    const count = chunkCount(request);
    const makeStream = () => {
      const source = tokens(count);
      let sequence = 0;
      let stage: "metadata" | "data" | "end" = "metadata";
      return new ReadableStream<string>({
        async pull(controller) {
          if (stage === "metadata") {
            stage = "data";
            controller.enqueue(encodeFrame({ type: "metadata", runId: "resumable", protocolVersion: PROTOCOL_VERSION, resumeUrl: null }));
            return;
          }
          if (stage === "end") return;
          const next = await source.next();
          if (next.done !== true) {
            controller.enqueue(`event: data\nid: 1-${++sequence}\ndata: ${encodeDataPayload(hashed, JSON.stringify(next.value))}\n\n`);
            return;
          }
          stage = "end";
          controller.enqueue(encodeFrame({ type: "commit", offset: `1-${++sequence}`, hashedStepId: hashed }));
          controller.enqueue(
            encodeFrame({
              type: "result",
              offset: `1-${++sequence}`,
              status: "succeeded",
              response: { status: 200, statusText: "", headers: [["content-type", "application/json"]], body: '{"ok":true}', bodyEncoding: "text" },
            }),
          );
          controller.close();
        },
      });
    };
    const stream = await context.resumableStream(`stream-${process.pid}-${++streams}`, makeStream);
    if (stream === null) return new Response("Stream is already done", { status: 422 });
    return new Response(stream.pipeThrough(new TextEncoderStream()), { headers: { "content-type": "text/event-stream" } });
  });
}

/** A durable endpoint on the durable single-machine store (SQLite, WAL, synchronous=FULL) in a temp file. */
async function durableSqliteServer(): Promise<http.Server> {
  const { SqliteRunStore } = await import("@durastream/sqlite");
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const store = new SqliteRunStore({ path: join(mkdtempSync(join(tmpdir(), "durastream-bench-")), "runs.sqlite") });
  const durable = createDurable({ store });
  return createEndpointServer(
    durable.endpoint(
      async (request) => {
        const count = chunkCount(request);
        await step.run("generate", () => stream.pipe(tokens(count)));
        return Response.json({ ok: true });
      },
      { id: "generate" },
    ),
  );
}

/** A durable endpoint on the Redis store, when @durastream/redis is there and Redis answers. */
async function durableRedisServer(): Promise<http.Server> {
  const { RedisRunStore } = await import("@durastream/redis");
  const store = new RedisRunStore({ prefix: `bench-${process.pid}:` });
  const durable = createDurable({ store });
  return createEndpointServer(
    durable.endpoint(
      async (request) => {
        const count = chunkCount(request);
        await step.run("generate", () => stream.pipe(tokens(count)));
        return Response.json({ ok: true });
      },
      { id: "generate" },
    ),
  );
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

const withRedis = process.env.BENCH_REDIS === "1";
const ports = {
  raw: await listen(await rawServer()),
  durable: await listen(durableServer()),
  durableSqlite: await listen(await durableSqliteServer()),
  ...(withRedis ? { resumable: await listen(await resumableServer()), durableRedis: await listen(await durableRedisServer()) } : {}),
};
process.stdout.write(`${JSON.stringify(ports)}\n`);
process.on("SIGINT", () => process.exit(0));
