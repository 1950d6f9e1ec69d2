// Several app instances sharing one Redis: takeover after SIGKILL, a sleep that ends on another
// instance, an event sent through another instance, fencing, and 1,000 runs across two instances.
// Instances are child processes (src/instance-server.fixture.ts) on real loopback HTTP and real Redis.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { DurableClientError, fetchWithStream, resumeStream, type FetchWithStreamOptions } from "@durastream/client";
import { createDurable, step, stream, type DurableHandler } from "@durastream/server";
import { advanceUntil, collectFrames, createManualTimers, sseRequest, until } from "@durastream/testing";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { RedisRunStore } from "./redis-store.js";
import { redisUrlForTests } from "./redis-test-support.js";

const packageDirectory = dirname(dirname(fileURLToPath(import.meta.url)));
const url = await redisUrlForTests();
const prefix = `durastream-multi-${process.pid}-${Date.now()}:`;
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
});
afterAll(async () => {
  if (url === undefined) return;
  const redis = new Redis(url);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

interface Instance {
  readonly child: ChildProcess;
  readonly port: number;
  readonly lines: string[];
  until(prefix: string): Promise<void>;
  stop(): Promise<void>;
}

async function startInstance(name: string, environment: Record<string, string> = {}): Promise<Instance> {
  const child = spawn(process.execPath, ["--conditions=@durastream/source", "--import", "tsx", "src/instance-server.fixture.ts"], {
    cwd: packageDirectory,
    env: { ...process.env, NAME: name, PREFIX: prefix, REDIS_URL: url!, ...environment },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const lines: string[] = [];
  const waiters: { match: string; resolve: () => void }[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(line);
    for (const waiter of waiters.filter((candidate) => line.startsWith(candidate.match))) waiter.resolve();
  });
  const untilLine = (match: string) =>
    lines.some((line) => line.startsWith(match)) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ match, resolve }));
  await untilLine("listening ");
  return {
    child,
    lines,
    port: Number(lines.find((line) => line.startsWith("listening "))!.split(" ")[1]),
    until: untilLine,
    async stop() {
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}

/** A UI's view of a run: committed chunks, uncommitted per step, and the position to resume from. */
function view() {
  const state = {
    committed: [] as unknown[],
    pending: new Map<string | null, unknown[]>(),
    rollbacks: [] as string[],
    resumeUrl: "",
    offset: undefined as string | undefined,
  };
  const callbacks: FetchWithStreamOptions = {
    reconnect: false,
    onMetadata: (metadata) => (state.resumeUrl = metadata.resumeUrl ?? state.resumeUrl),
    onData: ({ data, hashedStepId, offset }) => {
      state.pending.set(hashedStepId, [...(state.pending.get(hashedStepId) ?? []), data]);
      state.offset = offset;
    },
    onCommit: ({ hashedStepId, offset }) => {
      state.committed.push(...(state.pending.get(hashedStepId) ?? []));
      state.pending.delete(hashedStepId);
      state.offset = offset;
    },
    onRollback: ({ hashedStepId, error, offset }) => {
      state.pending.delete(hashedStepId);
      state.rollbacks.push(error.name);
      state.offset = offset;
    },
  };
  return { state, callbacks };
}

const onPort = (resumeUrl: string, port: number) => {
  const moved = new URL(resumeUrl);
  moved.port = String(port);
  return moved.href;
};
const executed = (instance: Instance) => instance.lines.filter((line) => line.startsWith("executing"));

describe.skipIf(url === undefined)("several instances on one Redis", () => {
  it("A is killed mid-step; the client reconnects through B with the same resume URL; the committed output appears exactly once", async () => {
    const a = await startInstance("A", { HANG: "1", LEASE: "30000" });
    const { state, callbacks } = view();
    let streamed!: () => void;
    const middleStreamed = new Promise<void>((resolve) => (streamed = resolve));
    const live = fetchWithStream(`http://127.0.0.1:${a.port}/story`, {
      ...callbacks,
      fetchOpts: { method: "POST", body: "{}" },
      onData: (chunk) => {
        callbacks.onData!(chunk);
        if (chunk.data === "time") streamed();
      },
    });
    await middleStreamed;
    await a.until("hanging in middle");
    expect(state.committed).toEqual(["Once ", "upon "]);
    a.child.kill("SIGKILL");
    const failure = await live.catch((error: unknown) => error);
    expect(DurableClientError.isInstance(failure)).toBe(true);

    // B runs behind the same address (as behind a load balancer), with its clock past A's lease.
    const b = await startInstance("B", { PORT: String(a.port), CLOCK_OFFSET: "60000", LEASE: "30000" });
    const response = await resumeStream(state.resumeUrl, { ...callbacks, ...(state.offset === undefined ? {} : { offset: state.offset }) });
    expect(state.rollbacks).toEqual(["InterruptedError"]);
    expect(state.committed).toEqual(["Once ", "upon ", "a ", "time", ", the end."]);
    expect(state.pending.size).toBe(0);
    expect(await response.json()).toEqual({ intro: "Once upon ", middle: "a time", end: "the end", finishedOn: "B" });
    expect(executed(a)).toEqual(["executing intro on A", "executing middle attempt 1 on A"]);
    expect(executed(b)).toEqual(["executing middle attempt 2 on B", "executing end on B"]);
    await b.stop();
  }, 60_000);

  it("a sleep that starts on A finishes on B", async () => {
    const a = await startInstance("A");
    const { state, callbacks } = view();
    let redirected = "";
    const live = await fetchWithStream(`http://127.0.0.1:${a.port}/sleepy`, {
      ...callbacks,
      fetchOpts: { method: "POST", body: "{}" },
      maxRedirects: 0,
      onRedirect: ({ reason }) => (redirected = reason),
    }).catch((error: unknown) => error);
    // maxRedirects 0: stop at the redirect, then read the rest through B.
    expect(DurableClientError.isInstance(live) && live.code).toBe("TOO_MANY_REDIRECTS");
    expect(state.committed).toEqual(["Good "]);
    // B starts once the run is suspended: with its clock 2 h ahead, A's lease would look expired to
    // it, so a B already polling could take the run over while A still executes it.
    const b = await startInstance("B", { CLOCK_OFFSET: String(2 * 3_600_000) });
    const response = await resumeStream(onPort(state.resumeUrl, b.port), { ...callbacks, offset: state.offset! });
    expect(redirected === "" || redirected === "sleep").toBe(true);
    expect(state.committed).toEqual(["Good ", "morning"]);
    expect(await response.json()).toEqual({ wokeOn: "B" });
    expect(executed(a)).toEqual(["executing before on A"]);
    expect(executed(b)).toEqual(["executing after on B"]);
    await Promise.all([a.stop(), b.stop()]);
  }, 60_000);

  it("an event sent through B wakes a run waiting on A", async () => {
    const [a, b] = await Promise.all([startInstance("A"), startInstance("B")]);
    const { state, callbacks } = view();
    const key = `k-${Date.now()}`;
    await fetchWithStream(`http://127.0.0.1:${a.port}/waiter`, {
      ...callbacks,
      fetchOpts: { method: "POST", body: JSON.stringify({ key }) },
      maxRedirects: 0,
    }).catch((error: unknown) => error);
    const sent = await fetch(`http://127.0.0.1:${b.port}/send`, { method: "POST", body: JSON.stringify({ name: "test/go", data: { key, from: "B" } }) });
    expect(await sent.json()).toEqual({ woken: 1 });
    const response = await resumeStream(state.resumeUrl, { ...callbacks, ...(state.offset === undefined ? {} : { offset: state.offset }) });
    const body = (await response.json()) as { event: unknown; resumedOn: string };
    expect(body.event).toEqual({ name: "test/go", data: { key, from: "B" } });
    expect(state.committed).toEqual([`got ${JSON.stringify({ key, from: "B" })}`]);
    expect([...executed(a), ...executed(b)]).toHaveLength(1);
    await Promise.all([a.stop(), b.stop()]);
  }, 60_000);

  it("1,000 concurrent short runs across two instances complete with correct output", async () => {
    const [a, b] = await Promise.all([startInstance("A"), startInstance("B")]);
    const ports = [a.port, b.port];
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < 1000) {
        const n = next++;
        const { state, callbacks } = view();
        const response = await fetchWithStream(`http://127.0.0.1:${ports[n % 2]}/short?n=${n}`, { ...callbacks, fetchOpts: { method: "POST", body: "{}" } });
        const body = (await response.json()) as { n: string };
        if (body.n !== String(n) || JSON.stringify(state.committed) !== JSON.stringify([`${n}:a `, `${n}:b`]))
          failures.push(`${n}: ${JSON.stringify(state.committed)}`);
      }
    };
    await Promise.all(Array.from({ length: 100 }, worker));
    expect(failures).toEqual([]);
    await Promise.all([a.stop(), b.stop()]);
  }, 120_000);
});

describe.skipIf(url === undefined)("fencing", () => {
  const stores: RedisRunStore[] = [];
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });

  it("an instance that lost its lease is fenced out: its late writes are refused and its commit never reaches the log", async () => {
    const storeA = new RedisRunStore({ url: url!, prefix });
    const storeB = new RedisRunStore({ url: url!, prefix });
    stores.push(storeA, storeB);
    const frozen = createManualTimers(); // A's clock never moves: it never renews its lease
    const moving = createManualTimers();
    let attempts = 0;
    let releaseA!: () => void;
    const gateA = new Promise<void>((resolve) => (releaseA = resolve));
    const handler: DurableHandler = async () => {
      const text = await step.run("generate", async ({ attempt }) => {
        attempts += 1;
        stream.push(`attempt ${attempt}`);
        if (attempts === 1) await gateA;
        return `final ${attempt}`;
      });
      return new Response(text);
    };
    const a = createDurable({ store: storeA, timers: frozen, leaseDuration: 30_000, secret: "fencing-test-secret-0000" });
    const b = createDurable({ store: storeB, timers: moving, leaseDuration: 30_000, pollInterval: 1_000, secret: "fencing-test-secret-0000" });
    const endpointId = `fenced-${process.pid}-${Date.now()}`;
    const liveA = a.endpoint(handler, { id: endpointId })(sseRequest()).then(collectFrames);
    await until(() => attempts === 1);
    b.endpoint(handler, { id: endpointId });
    // B polls every second; once its clock is past A's lease (30 s), it claims the run.
    await advanceUntil(moving, () => attempts === 2, { what: "B to take the run over", maxAdvance: 120_000 });
    releaseA();
    const frames = await liveA;
    expect(frames.filter((frame) => frame.type === "data").map((frame) => (frame as { data: string }).data)).toEqual(["attempt 1", "attempt 2"]);
    expect(frames.filter((frame) => frame.type === "commit")).toHaveLength(1);
    expect(frames.at(-1)).toMatchObject({ type: "result", response: { body: "final 2" } });
    const runId = (frames[0] as { runId: string }).runId;
    await expect(storeA.appendFrames(runId, 1, [{ type: "data", payload: '{"step":null,"data":"late"}' }])).rejects.toMatchObject({ code: "STORE_REFUSED" });
    a.close();
    b.close();
  }, 60_000);
});
