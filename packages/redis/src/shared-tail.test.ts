// The shared tail on the Redis store: 1,000 wait-endpoint tailers of one run on one process cost
// a few store reads per append (the tail's, after the local notification and the pub/sub echo),
// not one per tailer and append; every tailer gets the whole log. No real HTTP: the endpoint and
// the wait endpoint are called with Web Requests and their bodies read as Web streams.
import { createDurable, step, stream } from "@durastream/server";
import type { LogEntry } from "@durastream/server/store";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RedisRunStore } from "./redis-store.js";
import { deleteKeys, redisUrlForTests, skipWithoutRedis, uniquePrefix } from "./redis-test-support.js";

const url = await redisUrlForTests();

/** Counts reads and appends; otherwise the Redis store itself. */
class CountingRedisStore extends RedisRunStore {
  reads = 0;
  appends = 0;
  readonly bounds: (number | undefined)[] = [];

  override readFrames(runId: string, after: string | undefined, limit: number, maxBytes?: number): Promise<LogEntry[]> {
    this.reads += 1;
    this.bounds.push(maxBytes);
    return super.readFrames(runId, after, limit, maxBytes);
  }

  override appendFrames(...args: Parameters<RedisRunStore["appendFrames"]>): Promise<string> {
    this.appends += 1;
    return super.appendFrames(...args);
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

if (url === undefined) skipWithoutRedis();

describe.skipIf(url === undefined)("shared tail on Redis", () => {
  it("1,000 tailers of one run cost a few reads per append, and each gets the whole log", async () => {
    const prefix = uniquePrefix("shared-tail");
    const store = new CountingRedisStore({ url: url!, prefix });
    const durable = createDurable({ store });
    cleanups.push(async () => {
      await durable.close({ timeout: 1_000 });
      await deleteKeys(url!, prefix);
    });
    const gates: (() => void)[] = [];
    const chunks = 30;
    const endpoint = durable.endpoint(
      async () => {
        await step.run("ticks", async () => {
          for (let index = 0; index < chunks; index += 1) {
            await new Promise<void>((resolve) => gates.push(resolve));
            stream.push({ index });
          }
          return "done";
        });
        return Response.json({ ok: true });
      },
      { id: "shared-tail" },
    );
    const waitEndpoint = durable.waitEndpoint();

    const starter = readAll(await endpoint(new Request("https://app.example/api/tail", { method: "POST", headers: { accept: "text/event-stream" } })));
    const resumeUrl = await vi.waitFor(() => {
      const match = /"resumeUrl":"([^"]+)"/.exec(starter.text);
      expect(match).not.toBeNull();
      return match![1]!;
    });
    const tailers = await Promise.all(
      Array.from({ length: 1_000 }, async () => readAll(await waitEndpoint(new Request(resumeUrl, { headers: { accept: "text/event-stream" } })))),
    );
    await vi.waitFor(() => expect(gates).toHaveLength(1), { timeout: 5_000 });
    // Every tailer has read the log so far and joined the run's tail.
    await vi.waitFor(() => expect(tailers.every((tailer) => tailer.text.startsWith("event: metadata\n"))).toBe(true), { timeout: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));

    const readsBefore = store.reads;
    const appendsBefore = store.appends;
    for (let index = 0; index < chunks; index += 1) {
      await vi.waitFor(() => expect(gates.length).toBeGreaterThan(0));
      gates.shift()!();
      await vi.waitFor(() => expect(tailers.every((tailer) => countData(tailer.text) === index + 1)).toBe(true), { timeout: 10_000 });
    }
    await Promise.all([starter.done, ...tailers.map((tailer) => tailer.done)]);
    const appends = store.appends - appendsBefore;
    const reads = store.reads - readsBefore;
    expect(appends).toBeGreaterThanOrEqual(chunks);
    // Per append: the read after the local notification, and at most one more after Redis's
    // pub/sub message for the same write. Without the shared tail: 1,000 per append.
    expect(reads).toBeLessThanOrEqual(2 * appends + 5);
    expect(store.bounds.filter((bound) => bound !== undefined && bound !== 4 * 1024 * 1024)).toEqual([]);

    const events = (text: string) => text.slice(text.indexOf("\n\n") + 2);
    expect(countData(starter.text)).toBe(chunks);
    expect(starter.text).toContain("event: result");
    for (const tailer of tailers) expect(events(tailer.text)).toBe(events(starter.text));
  }, 60_000);
});

/** Reads a response body to its end in the background; `text` grows as pieces come. */
function readAll(response: Response): { text: string; done: Promise<void> } {
  const result = { text: "", done: Promise.resolve() };
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  result.done = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      result.text += decoder.decode(value, { stream: true });
    }
  })();
  return result;
}

function countData(text: string): number {
  return text.split("event: data\n").length - 1;
}
