// A Redis restart in the middle of a run does not lose committed output, when Redis persists with
// AOF and `appendfsync always` (README, "Durability"). The test runs its own redis-server child
// process (not the shared test Redis: it is restarted), on a free port, with its AOF in a temporary
// directory; the run streams over a live SSE response while Redis goes down and comes back.
// What it cannot show: the difference between `appendfsync always` and `everysec`. Redis write()s
// the AOF before replying either way, and a process restart (even a SIGKILL) keeps the page cache;
// only a machine crash or power loss would lose an unsynced `everysec` tail.
import { createFrameDecoder, hashStepId, type Frame, type ProtocolError } from "@durastream/protocol";
import { createDurable, step, stream, type Durable } from "@durastream/server";
import { collectFrames, sseRequest, until, committedData } from "@durastream/testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PrivateRedis, redisServerAvailable, skipWithoutRedisServer } from "./private-redis.js";
import { RedisRunStore } from "./redis-store.js";

const available = redisServerAvailable("the Redis restart test");

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A frame without its offset (offsets are checked apart), for comparing logs. */
function shape(frame: Frame): string {
  switch (frame.type) {
    case "data":
      return `data ${frame.hashedStepId?.slice(0, 8)} ${JSON.stringify(frame.data)}`;
    case "commit":
      return `commit ${frame.hashedStepId?.slice(0, 8)}`;
    case "rollback":
      return `rollback ${frame.hashedStepId?.slice(0, 8)} ${frame.error.name}`;
    case "result":
      return `result ${frame.status}`;
    default:
      return frame.type;
  }
}

describe.skipIf(!available)("a Redis restart during a run (AOF, appendfsync always)", () => {
  it("does not lose committed output: the log read back after the restart has step one's chunks and commit exactly once, and the run completes", async () => {
    const t0 = Date.now();
    const redis = await PrivateRedis.start({ aof: true, appendfsync: "always" });
    cleanups.push(() => redis.close());
    const firstRunId = await redis.runId();

    const store = new RedisRunStore({ url: redis.url });
    const durable: Durable = createDurable({ store, secret: "restart-test-secret-000", backoff: () => 0 });
    cleanups.push(async () => {
      durable.close();
      await store.close();
    });

    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    let atGate = false;
    const executions: string[] = [];
    const endpoint = durable.endpoint(
      async () => {
        const first = await step.run("one", () => {
          executions.push("one");
          stream.push("a");
          stream.push("b");
          return "ab";
        });
        const second = await step.run("two", async () => {
          executions.push("two");
          stream.push("c");
          atGate = true;
          await gate;
          return "c";
        });
        return Response.json({ first, second });
      },
      { id: "restart" },
    );
    const [one, two] = await Promise.all([hashStepId("one"), hashStepId("two")]);

    // The live SSE response, read incrementally (collectFrames would wait for the end of the run).
    const response = await endpoint(sseRequest("http://localhost/restart", { method: "POST", body: "{}" }));
    expect(response.status).toBe(200);
    const live: Frame[] = [];
    const liveErrors: ProtocolError[] = [];
    const decoder = createFrameDecoder({ onFrame: (frame) => live.push(frame), onError: (error) => liveErrors.push(error) });
    const reader = response.body!.getReader();
    cleanups.push(() => reader.cancel().catch(() => {}));
    const liveEnd = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        decoder.feed(value);
      }
      decoder.end();
      return { ended: true as const };
    })().catch((error: unknown) => ({ ended: false as const, error }));

    await until(() => live.some((frame) => frame.type === "commit" && frame.hashedStepId === one), "step one's commit frame on the live response");
    const tCommitOne = Date.now();
    // Also wait for step two's chunk: its append was acknowledged (it is read from the log), and the
    // handler is parked at the gate. So no write of the run is in flight while Redis is down, and
    // what Redis holds when it stops is exactly: a, b, commit(one), c — the last chunk uncommitted.
    await until(() => atGate && live.some((frame) => frame.type === "data" && frame.hashedStepId === two), "step two's chunk on the live response");
    const metadata = live[0]!;
    expect(metadata.type).toBe("metadata");
    if (metadata.type !== "metadata") return;

    // Restart Redis: SIGTERM (a graceful SHUTDOWN, AOF fsynced), wait for the exit, start a new
    // server on the same port and --dir at once, wait until it answers PING.
    const tStop = Date.now();
    expect(await redis.stop()).toBe(0);
    const tExited = Date.now();
    expect(redis.output()).toMatch(/Redis is now ready to exit/);
    await redis.start();
    const tUp = Date.now();
    expect(await redis.runId()).not.toBe(firstRunId); // a new server process, fed only by the AOF

    // THE assertion of this test, made before the run writes anything more: what the run had
    // acknowledged before the restart is read back, through the same store (which reconnects by
    // itself), from the new server — step one's chunks and commit exactly once, step two's chunk
    // after them, nothing else.
    const survived = await store.readFrames(metadata.runId, undefined, 100);
    const tReadBack = Date.now();
    expect(survived.map((entry) => `${entry.type} ${entry.payload}`)).toEqual([
      `data {"step":"${one}","data":"a"}`,
      `data {"step":"${one}","data":"b"}`,
      `commit {"step":"${one}"}`,
      `data {"step":"${two}","data":"c"}`,
    ]);
    // The journal: step one succeeded with its output; step two is not over. (An engine that
    // records each attempt before running it, so that one that crashes its process still counts,
    // has step two as "running"; one that does not has no entry for it yet.)
    const journal = (await store.listSteps(metadata.runId)).map((entry) => [entry.stepId, entry.status, entry.output]);
    expect(journal.length === 1 ? journal : [journal[0]]).toEqual([["one", "succeeded", '"ab"']]);
    if (journal.length !== 1) expect(journal.slice(1)).toEqual([["two", "running", undefined]]);
    expect((await store.getRun(metadata.runId))?.status).toBe("running");

    // Let step two finish: its commit and the result go to the restarted Redis.
    openGate();
    await vi.waitFor(async () => expect((await store.getRun(metadata.runId))?.status).toBe("succeeded"), { timeout: 10_000, interval: 10 });
    const tDone = Date.now();

    // The whole log, read back through the wait endpoint. We assert it exactly: no write was in
    // flight during the outage (see above) and the run's next writes came after the store had
    // reconnected, so none of them failed or was resent, and every frame is there once. (Had Redis
    // stayed down longer than the client's retries, ~1 s, the commit of step two would have failed
    // with STORE_UNAVAILABLE and this exact log would not hold — but the read-back above, which is
    // what proves that committed output survives a restart, would still have passed.)
    const stored = await collectFrames(await durable.waitEndpoint()(new Request(metadata.resumeUrl!, { headers: { accept: "text/event-stream" } })));
    const log = stored.filter((frame) => frame.type !== "metadata");
    expect(log.map(shape)).toEqual([
      `data ${one.slice(0, 8)} "a"`,
      `data ${one.slice(0, 8)} "b"`,
      `commit ${one.slice(0, 8)}`,
      `data ${two.slice(0, 8)} "c"`,
      `commit ${two.slice(0, 8)}`,
      "result succeeded",
    ]);
    expect(log.filter((frame) => frame.type === "data" && frame.hashedStepId === one).map((frame) => (frame as { data: unknown }).data)).toEqual(["a", "b"]);
    expect(log.filter((frame) => frame.type === "commit" && frame.hashedStepId === one)).toHaveLength(1);
    expect(log.map((frame) => (frame as { offset: string }).offset)).toEqual(["1-1", "1-2", "1-3", "1-4", "1-5", "1-6"]);
    expect(committedData(log)).toEqual(["a", "b", "c"]);
    const result = log.at(-1)!;
    expect(result).toMatchObject({ type: "result", status: "succeeded", response: { status: 200 } });
    if (result.type === "result") expect(JSON.parse(result.response.body)).toEqual({ first: "ab", second: "c" });
    // Each step ran once: the restart made nothing run again.
    expect(executions).toEqual(["one", "two"]);

    // The live response rode out the restart: it was parked waiting for a notification while Redis
    // was down, its reads after the restart went through the reconnected store, and it ended with the
    // result, carrying the same frames as the log, each once. (One instance: the writes after the
    // restart wake it through the store's local notification, so this does not isolate the
    // subscriber connection's resubscribe-after-reconnect path.)
    const end = await liveEnd;
    expect(end).toEqual({ ended: true });
    expect(liveErrors).toEqual([]);
    expect(live.filter((frame) => frame.type !== "metadata")).toEqual(log);

    console.info(
      `[redis-restart] commit(one) after ${tCommitOne - t0} ms; SIGTERM→exit ${tExited - tStop} ms; start→PING ${tUp - tExited} ms; ` +
        `Redis down ${tUp - tStop} ms; first read after restart ${tReadBack - tUp} ms; gate→succeeded ${tDone - tReadBack} ms; total ${Date.now() - t0} ms`,
    );
  }, 30_000);
});

if (!available) skipWithoutRedisServer();
