// Issue 12, "Resume cost", on Redis: the wait endpoint's long-poll does not read the run's request
// (a 1 MB body) on every append, and a resume after a suspension reads none of the log before it.
import type { Socket } from "node:net";
import { createDurable, step, stream, type Durable, type RunStore } from "@durastream/server";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { RedisRunStore } from "./redis-store.js";
import { deleteKeys, redisUrlForTests, skipWithoutRedis, uniquePrefix } from "./redis-test-support.js";

const url = await redisUrlForTests();

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A store on its own client (so the test sees its commands) and a fresh prefix, with a durable on it. */
function open(options: { maxInlineWait?: number } = {}): { store: RedisRunStore; client: Redis; durable: Durable } {
  const prefix = uniquePrefix("resume-cost");
  const client = new Redis(url!);
  client.on("error", () => {});
  const store = new RedisRunStore({ redis: client, prefix });
  const durable = createDurable({ store, secret: "resume-cost-test-secret", pollInterval: 50, ...options });
  cleanups.push(async () => {
    await durable.close({ timeout: 1_000 });
    client.disconnect();
    await deleteKeys(url!, prefix);
  });
  return { store, client, durable };
}

/** Records the hash reads the client sends (command name and arguments). */
function spyOnHashReads(client: Redis): string[][] {
  const reads: string[][] = [];
  const hgetall = client.hgetall.bind(client);
  const hmget = client.hmget.bind(client) as (...args: string[]) => Promise<(string | null)[]>;
  (client as { hgetall: unknown }).hgetall = (key: string) => {
    reads.push(["hgetall", key]);
    return hgetall(key);
  };
  (client as { hmget: unknown }).hmget = (...args: string[]) => {
    reads.push(["hmget", ...args.flat()]);
    return hmget(...args);
  };
  return reads;
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe.skipIf(url === undefined)("resume cost on Redis", () => {
  it("a long-poll on a run with a 1 MB request body reads the run with HMGET of every field but the request, not HGETALL, per append", async () => {
    const { client, durable } = open();
    const started = gate();
    const body = "x".repeat(1_000_000);
    const endpoint = durable.endpoint(
      async (request) => {
        await request.text();
        await started.promise;
        for (let index = 0; index < 50; index += 1) {
          stream.push(index);
          await new Promise((resolve) => setTimeout(resolve, 1)); // one append each
        }
        return new Response("done");
      },
      { id: "long-poll" },
    );
    const live = await endpoint(new Request("http://app.test/work", { method: "POST", body, headers: { accept: "text/event-stream" } }));
    const reader = live.body!.getReader();
    let text = "";
    while (!text.includes("resumeUrl")) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    const resumeUrl = /"resumeUrl":"([^"]+)"/.exec(text)![1]!;
    const runKey = `run:${new URL(resumeUrl).pathname.split("/").at(-1)!}`;

    const reads = spyOnHashReads(client);
    const socket = (client as unknown as { stream: Socket }).stream;
    const bytesBefore = socket.bytesRead;
    const answer = durable.waitEndpoint({ waitTimeout: 30_000 })(new Request(resumeUrl));
    started.open();
    const response = await answer;
    const bytesRead = socket.bytesRead - bytesBefore;
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("done");

    const ofRun = reads.filter(([, key]) => key!.endsWith(runKey));
    expect(ofRun.filter(([command]) => command === "hgetall")).toEqual([]);
    const fieldReads = ofRun.filter(([command]) => command === "hmget").map(([, , ...fields]) => fields);
    for (const fields of fieldReads) expect(fields).not.toContain("request");
    // The wait endpoint's reads of the run (the request's, the long-poll's after appends): getRunSummary.
    expect(fieldReads.filter((fields) => fields.includes("result")).length).toBeGreaterThan(1);
    // Everything this connection received while the long-poll waited: the run's own writes and the
    // long-poll's reads, far less than one copy of the body (each read with it was 1 MB).
    expect(bytesRead).toBeLessThan(body.length / 2);
  });

  it("a run resumed after a suspension reads no frame written before it", async () => {
    const { store, durable } = open({ maxInlineWait: 50 });
    let runId = "";
    const finished = gate();
    const endpoint = durable.endpoint(
      async (_request, context) => {
        runId = context.runId;
        await step.run("big", () => {
          for (let index = 0; index < 2_000; index += 1) stream.push(index);
        });
        await step.sleep("nap", 300);
        finished.open();
        return "done";
      },
      { id: "resume" },
    );
    const reads: { after: string | undefined; returned: number }[] = [];
    const readFrames = store.readFrames.bind(store) as RunStore["readFrames"];
    store.readFrames = async (...args) => {
      const entries = await readFrames(...args);
      reads.push({ after: args[1], returned: entries.length });
      return entries;
    };
    const response = await endpoint(new Request("http://app.test/work", { method: "POST" }));
    expect(response.status).toBe(303);
    const quiet = (await store.getRun(runId))!.quiet;
    expect(quiet).toEqual({ offset: "1-2001", rollbacks: [] });
    await finished.promise;
    expect(reads).toEqual([{ after: "1-2001", returned: 0 }]);
  });
});

if (url === undefined) skipWithoutRedis();
