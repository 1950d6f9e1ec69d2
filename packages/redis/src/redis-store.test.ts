// What is specific to the Redis store (the conformance suite covers the RunStore contract):
// stream ids, several instances, connections, TTLs, dropped connections, outages, options.
import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { DurableError, InvalidOptionsError } from "@durastream/server";
import type { NewRun, RequestSnapshot, StepRecord } from "@durastream/server/store";
import { Redis, type RedisOptions } from "ioredis";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RedisRunStore } from "./redis-store.js";
import { deleteKeys, redisUrlForTests, uniquePrefix } from "./redis-test-support.js";

const url = await redisUrlForTests();
const LEASE = 30_000;
const request: RequestSnapshot = { method: "POST", url: "https://app.example/api/chat", headers: [], body: '{"prompt":"hi"}', bodyEncoding: "text" };
const response = { status: 200, statusText: "OK", headers: [], body: "done", bodyEncoding: "text" } as const;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A store on a fresh prefix (or `prefix`), closed and its keys deleted after the test. */
function open(options: { prefix?: string; redis?: Redis; retention?: number; url?: string } = {}): { store: RedisRunStore; prefix: string } {
  const prefix = options.prefix ?? uniquePrefix("store");
  const store = new RedisRunStore({
    prefix,
    ...(options.redis === undefined ? { url: options.url ?? url! } : { redis: options.redis }),
    ...(options.retention === undefined ? {} : { retention: options.retention }),
  });
  cleanups.push(async () => {
    await store.close();
    await deleteKeys(url!, prefix);
  });
  return { store, prefix };
}

/** A plain client for inspecting Redis, closed after the test. */
function client(options: RedisOptions = {}): Redis {
  const redis = new Redis(url!, options);
  redis.on("error", () => {});
  cleanups.push(() => redis.disconnect());
  return redis;
}

function newRun(runId: string, overrides: Partial<NewRun> = {}): NewRun {
  return { runId, endpointId: "POST /api/chat", createdAt: Date.now(), request, owner: "process-1", leaseExpiresAt: Date.now() + LEASE, ...overrides };
}

function frames(count: number, prefix = "f") {
  return Array.from({ length: count }, (_, index) => ({ type: "data" as const, payload: JSON.stringify({ step: null, data: `${prefix}${index}` }) }));
}

async function connectionsNamed(admin: Redis, name: string): Promise<number> {
  const list = (await admin.client("LIST")) as string;
  return list.split("\n").filter((line) => line.includes(` name=${name} `)).length;
}

/** Makes the next reply on `redis`'s connection vanish with the connection, as when a network drops after Redis ran the command. */
function loseNextReply(redis: Redis): void {
  const socket = (redis as unknown as { stream: Socket }).stream;
  const listeners = socket.listeners("data");
  socket.removeAllListeners("data");
  socket.on("data", () => socket.destroy());
  expect(listeners.length).toBeGreaterThan(0);
}

/**
 * A TCP proxy in front of Redis that a test can freeze (Redis's replies are swallowed), cut off
 * (connections dropped, new ones refused) and restore.
 */
async function redisProxy(): Promise<{ url: string; freeze: () => void; cut: () => Promise<void>; restore: () => Promise<void> }> {
  const target = new URL(url!);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  let frozen = false;
  const listen = () =>
    new Promise<void>((resolve) => {
      frozen = false;
      server = createServer((incoming) => {
        const outgoing = connect(Number(target.port || 6379), target.hostname);
        for (const socket of [incoming, outgoing]) {
          sockets.add(socket);
          socket.on("close", () => {
            sockets.delete(socket);
            incoming.destroy();
            outgoing.destroy();
          });
          socket.on("error", () => {});
        }
        incoming.on("data", (chunk) => outgoing.write(chunk));
        outgoing.on("data", (chunk) => {
          if (!frozen) incoming.write(chunk);
        });
      });
      server.listen(port, "127.0.0.1", () => {
        port = (server!.address() as AddressInfo).port;
        resolve();
      });
    });
  const cut = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server!.close(() => resolve());
    });
  await listen();
  cleanups.push(() => (server?.listening ? cut() : undefined));
  return { url: `redis://127.0.0.1:${port}`, freeze: () => (frozen = true), cut, restore: listen };
}

describe.skipIf(url === undefined)("RedisRunStore on Redis", () => {
  it("stores the log as a stream whose entry ids are the offsets, across a takeover", async () => {
    const { store, prefix } = open();
    const admin = client();
    await store.createRun(newRun("run-ids", { leaseExpiresAt: 1 }));
    expect(await store.appendFrames("run-ids", 1, frames(3))).toBe("1-3");
    expect((await store.claimRun("run-ids", "process-2", Date.now() + LEASE, Date.now()))?.epoch).toBe(2);
    expect(await store.appendFrames("run-ids", 2, frames(2, "e2-"))).toBe("2-5");
    const raw = await admin.xrange(`${prefix}log:run-ids`, "-", "+");
    const read = await store.readFrames("run-ids", undefined, 100);
    expect(raw.map(([id]) => id)).toEqual(["1-1", "1-2", "1-3", "2-4", "2-5"]);
    expect(read.map((entry) => entry.offset)).toEqual(raw.map(([id]) => id));
    expect(raw[3]![1]).toEqual(["type", "data", "payload", frames(2, "e2-")[0]!.payload]);
    // A stale writer's frames could not go in below the last id even without the epoch check.
    await expect(admin.xadd(`${prefix}log:run-ids`, "1-9", "type", "data", "payload", "{}")).rejects.toThrow(/equal or smaller/);
  });

  it("appends a batch of 100,000 frames in one call (more arguments than a JavaScript call can take)", async () => {
    const { store } = open();
    await store.createRun(newRun("big-batch"));
    expect(await store.appendFrames("big-batch", 1, frames(100_000))).toBe("1-100000");
    const last = await store.readFrames("big-batch", "1-99998", 10);
    expect(last.map((entry) => entry.offset)).toEqual(["1-99999", "1-100000"]);
    expect(last[1]!.payload).toBe(frames(100_000)[99_999]!.payload);
  });

  it("keeps every key under the prefix, and stores with other prefixes apart", async () => {
    const { store: first, prefix: firstPrefix } = open();
    const { store: second, prefix: secondPrefix } = open();
    const admin = client();
    const waiting: StepRecord = {
      hashedStepId: "b".repeat(40),
      stepId: "wait",
      position: 0,
      kind: "wait-for-event",
      status: "waiting",
      attempts: 0,
      event: "shared/event",
      wakeAt: Date.now() + 60_000,
    };
    await first.createRun(newRun("same-id", { leaseExpiresAt: 1 }));
    await first.appendFrames("same-id", 1, frames(2), { step: waiting, suspend: { wakeAt: 5 } });
    expect(await second.getRun("same-id")).toBeUndefined();
    await expect(second.readFrames("same-id", undefined, 10)).rejects.toMatchObject({ code: "STORE_REFUSED" });
    expect(await second.listResumableRuns(Date.now(), 10)).toEqual([]);
    expect(await second.nextWakeAt()).toBeNull();
    expect(await second.deliverEvent({ name: "shared/event" }, Date.now())).toEqual([]);
    await second.createRun(newRun("same-id"));
    expect((await second.getRun("same-id"))?.frameCount).toBe(0);
    expect((await first.getRun("same-id"))?.frameCount).toBe(2);
    expect(await first.nextWakeAt()).toBe(5);

    const keys = await admin.keys(`${firstPrefix}*`);
    expect(keys.sort()).toEqual(
      ["applied:same-id", "due", "event-waits:shared/event", "log:same-id", "run-waits:same-id", "run:same-id", "steps:same-id"]
        .map((key) => firstPrefix + key)
        .sort(),
    );
    expect((await admin.keys(`${secondPrefix}*`)).every((key) => key.startsWith(secondPrefix))).toBe(true);
  });

  it("shares runs between two instances: B's subscriber hears A's appends, A's hears B's event delivery", async () => {
    const { store: a, prefix } = open();
    const { store: b } = open({ prefix });
    const admin = client();
    await a.createRun(newRun("shared"));
    const seenOnB: string[][] = [];
    const unsubscribe = b.subscribe("shared", () => {
      void b.readFrames("shared", undefined, 100).then((entries) => seenOnB.push(entries.map((entry) => entry.offset)));
    });
    await vi.waitFor(async () => expect(await pubsubSubscribers(admin, `${prefix}notify:shared`)).toBe(1), { timeout: 5_000, interval: 10 });
    await a.appendFrames("shared", 1, frames(2));
    await vi.waitFor(() => expect(seenOnB.at(-1)).toEqual(["1-1", "1-2"]), { timeout: 5_000, interval: 5 });
    unsubscribe();

    const waiting: StepRecord = {
      hashedStepId: "c".repeat(40),
      stepId: "wait",
      position: 0,
      kind: "wait-for-event",
      status: "waiting",
      attempts: 0,
      event: "order/paid",
    };
    await a.appendFrames("shared", 1, [], { step: waiting });
    let heardOnA = 0;
    const stop = a.subscribe("shared", () => (heardOnA += 1));
    await vi.waitFor(async () => expect(await pubsubSubscribers(admin, `${prefix}notify:shared`)).toBe(1), { timeout: 5_000, interval: 10 });
    expect(await b.deliverEvent({ name: "order/paid", data: 1 }, Date.now())).toEqual(["shared"]);
    await vi.waitFor(() => expect(heardOnA).toBeGreaterThan(0), { timeout: 5_000, interval: 5 });
    expect((await a.listSteps("shared"))[0]).toMatchObject({ status: "succeeded", output: '{"name":"order/paid","data":1}' });
    stop();
  });

  it("uses one subscriber connection per instance, however many runs are subscribed, and unsubscribes the last listener's channel", async () => {
    const name = `durastream-test-connections-${process.pid}-${Date.now()}`;
    const admin = client();
    const mine = client({ connectionName: name });
    await mine.ping();
    const { store, prefix } = open({ redis: mine });
    expect(await connectionsNamed(admin, name)).toBe(1);
    const stops: (() => void)[] = [];
    for (let index = 0; index < 50; index += 1) {
      await store.createRun(newRun(`run-${index}`));
      stops.push(store.subscribe(`run-${index}`, () => {}));
      stops.push(store.subscribe(`run-${index}`, () => {}));
    }
    await vi.waitFor(async () => expect(await pubsubSubscribers(admin, `${prefix}notify:run-49`)).toBe(1), { timeout: 5_000, interval: 10 });
    expect(await connectionsNamed(admin, name)).toBe(2);
    const channels = await admin.pubsub("CHANNELS", `${prefix}notify:*`);
    expect(channels).toHaveLength(50);
    for (const stop of stops) stop();
    await vi.waitFor(async () => expect(await admin.pubsub("CHANNELS", `${prefix}notify:*`)).toHaveLength(0), { timeout: 5_000, interval: 10 });
    expect(await connectionsNamed(admin, name)).toBe(2);

    // The store's own client (from url) is named after the prefix, and opens one subscriber too.
    const { store: own, prefix: ownPrefix } = open();
    await own.createRun(newRun("own"));
    for (let index = 0; index < 10; index += 1) own.subscribe(`own-${index}`, () => {});
    const ownName = `durastream:${ownPrefix.slice(0, -1)}`;
    await vi.waitFor(async () => expect(await connectionsNamed(admin, `${ownName}:subscriber`)).toBe(1), { timeout: 5_000, interval: 10 });
    expect(await connectionsNamed(admin, ownName)).toBe(1);
  });

  it("sets TTLs of retention on a run's keys when it finishes, and none while it runs", async () => {
    const retention = 120_000;
    const { store, prefix } = open({ retention });
    const admin = client();
    const step: StepRecord = { hashedStepId: "a".repeat(40), stepId: "answer", position: 0, kind: "run", status: "succeeded", output: '"hi"', attempts: 1 };
    await store.createRun(newRun("ttl"));
    await store.appendFrames("ttl", 1, frames(2), { step });
    const keys = ["run", "log", "steps", "applied"].map((kind) => `${prefix}${kind}:ttl`);
    for (const key of keys) expect(await admin.pttl(key)).toBe(-1);
    await store.appendFrames("ttl", 1, [{ type: "result", payload: "{}" }], { finish: { status: "succeeded", response } });
    for (const key of keys) {
      const ttl = await admin.pttl(key);
      expect(ttl).toBeGreaterThan(retention - 5_000);
      expect(ttl).toBeLessThanOrEqual(retention);
    }
    expect(await admin.exists(`${prefix}run-waits:ttl`)).toBe(0);
    expect(await admin.zscore(`${prefix}leases`, "ttl")).toBeNull();
  });

  it("forgets a run whose keys expired", async () => {
    const { store } = open({ retention: 50 });
    await store.createRun(newRun("short-lived"));
    await store.appendFrames("short-lived", 1, frames(1), { finish: { status: "succeeded", response } });
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(await store.getRun("short-lived")).toBeUndefined();
    await expect(store.readFrames("short-lived", undefined, 10)).rejects.toMatchObject({ code: "STORE_REFUSED", reason: "unknown-run" });
    await store.createRun(newRun("short-lived"));
    expect(await store.appendFrames("short-lived", 1, frames(1))).toBe("1-1");
  });

  it("loses nothing and duplicates nothing when its command connection is killed during a run of appends", async () => {
    const mine = client({ connectionName: `durastream-test-kill-${process.pid}` });
    const admin = client();
    const id = (await mine.client("ID")) as number;
    const { store } = open({ redis: mine });
    await store.createRun(newRun("killed"));
    const total = 300;
    const offsets: string[] = [];
    let next = 0;
    let killed = false;
    const writer = async () => {
      while (next < total) {
        const index = next++;
        if (index === 100 && !killed) {
          killed = true;
          await admin.client("KILL", "ID", String(id));
        }
        offsets.push(await store.appendFrames("killed", 1, [{ type: "data", payload: JSON.stringify({ step: null, data: index }) }]));
      }
    };
    await Promise.all(Array.from({ length: 8 }, writer));
    expect(killed).toBe(true);
    expect((await mine.client("ID")) as number).not.toBe(id); // it did reconnect
    const entries = await store.readFrames("killed", undefined, 1_000);
    expect(entries.map((entry) => entry.offset)).toEqual(Array.from({ length: total }, (_, index) => `1-${index + 1}`));
    expect(entries.map((entry) => (JSON.parse(entry.payload) as { data: number }).data).sort((x, y) => x - y)).toEqual(
      Array.from({ length: total }, (_, index) => index),
    );
    expect([...offsets].sort()).toEqual(entries.map((entry) => entry.offset).sort());
    expect((await store.getRun("killed"))?.frameCount).toBe(total);
  });

  it("applies a write once when the connection drops after Redis ran it (the reply is lost and ioredis resends it)", async () => {
    const mine = client();
    await mine.ping();
    const { store } = open({ redis: mine });
    await store.createRun(newRun("resent", { leaseExpiresAt: 1 }));
    await store.appendFrames("resent", 1, frames(2));

    loseNextReply(mine);
    expect(await store.appendFrames("resent", 1, frames(3, "again"))).toBe("1-5");
    expect((await store.readFrames("resent", undefined, 100)).map((entry) => entry.offset)).toEqual(["1-1", "1-2", "1-3", "1-4", "1-5"]);

    loseNextReply(mine);
    const claimed = await store.claimRun("resent", "process-2", Date.now() + LEASE, Date.now());
    expect(claimed).toMatchObject({ epoch: 2, owner: "process-2" });

    loseNextReply(mine);
    expect(await store.appendFrames("resent", 2, [{ type: "result", payload: "{}" }], { finish: { status: "succeeded", response } })).toBe("2-6");
    expect((await store.getRun("resent"))?.status).toBe("succeeded");

    loseNextReply(mine);
    expect((await store.createRun(newRun("created-once"))).epoch).toBe(1);

    const waiting: StepRecord = {
      hashedStepId: "d".repeat(40),
      stepId: "wait",
      position: 0,
      kind: "wait-for-event",
      status: "waiting",
      attempts: 0,
      event: "go",
    };
    await store.appendFrames("created-once", 1, [], { step: waiting });
    const scripted = mine as unknown as { durastreamDeliver: (...args: unknown[]) => Promise<number> };
    const deliver = scripted.durastreamDeliver.bind(mine);
    scripted.durastreamDeliver = (...args) => {
      loseNextReply(mine);
      return deliver(...args);
    };
    expect(await store.deliverEvent({ name: "go" }, Date.now())).toEqual(["created-once"]);
  });

  it("hears appends from another instance after its subscriber connection was killed", async () => {
    const name = `durastream-test-subscriber-${process.pid}-${Date.now()}`;
    const admin = client();
    const mine = client({ connectionName: name });
    await mine.ping();
    const { store: b, prefix } = open({ redis: mine });
    const { store: a } = open({ prefix });
    await a.createRun(newRun("tail"));
    let calls = 0;
    b.subscribe("tail", () => (calls += 1));
    await vi.waitFor(async () => expect(await pubsubSubscribers(admin, `${prefix}notify:tail`)).toBe(1), { timeout: 5_000, interval: 10 });
    const commandId = (await mine.client("ID")) as number;
    const subscriberId = ((await admin.client("LIST")) as string)
      .split("\n")
      .filter((line) => line.includes(` name=${name} `))
      .map((line) => Number(/\bid=(\d+)/.exec(line)![1]))
      .find((candidate) => candidate !== commandId)!;
    await admin.client("KILL", "ID", String(subscriberId));
    await vi.waitFor(async () => expect(await pubsubSubscribers(admin, `${prefix}notify:tail`)).toBe(1), { timeout: 5_000, interval: 10 });
    await new Promise((resolve) => setTimeout(resolve, 100)); // the wake-up after resubscribing has happened
    const before = calls;
    await a.appendFrames("tail", 1, frames(1));
    await vi.waitFor(() => expect(calls).toBeGreaterThan(before), { timeout: 5_000, interval: 5 });
  });

  it("rejects with STORE_UNAVAILABLE, naming the URL and what to check, when Redis is unreachable", async () => {
    const store = new RedisRunStore({ url: "redis://127.0.0.1:1", prefix: uniquePrefix("unreachable") });
    cleanups.push(() => store.close());
    const started = Date.now();
    const outcomes = await Promise.all([
      store.getRun("any").catch((error: unknown) => error),
      store.appendFrames("any", 1, frames(1)).catch((error: unknown) => error),
      store.listResumableRuns(Date.now(), 10).catch((error: unknown) => error),
    ]);
    expect(Date.now() - started).toBeLessThan(5_000);
    for (const error of outcomes) {
      expect(DurableError.isInstance(error) && error.code).toBe("STORE_UNAVAILABLE");
      expect((error as Error).message).toContain("redis://127.0.0.1:1");
      expect((error as Error).message).toContain("REDIS_URL");
      expect((error as Error).message).toContain("redis-server is running");
      expect((error as Error).message).toContain("ECONNREFUSED");
    }
  });

  it("fails an operation in flight within a few seconds when Redis goes away, applies it at most once, and works again when Redis is back", async () => {
    const proxy = await redisProxy();
    const { store } = open({ url: proxy.url });
    await store.createRun(newRun("outage"));
    await store.appendFrames("outage", 1, frames(1));
    // Redis runs the append, but its reply never comes back; then the connection drops for good.
    proxy.freeze();
    const started = Date.now();
    const inFlight = store.appendFrames("outage", 1, frames(1, "during")).catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await proxy.cut();
    const queued = store.getRun("outage").catch((error: unknown) => error);
    for (const outcome of [await inFlight, await queued]) {
      expect(DurableError.isInstance(outcome) && outcome.code).toBe("STORE_UNAVAILABLE");
      expect((outcome as Error).message).toContain(proxy.url);
    }
    expect(Date.now() - started).toBeLessThan(6_000);

    await proxy.restore();
    await vi.waitFor(async () => expect((await store.getRun("outage"))?.status).toBe("running"), { timeout: 8_000, interval: 200 });
    // ioredis resent the unanswered append after reconnecting; its token kept it from going in twice.
    expect((await store.getRun("outage"))!.frameCount).toBe(2);
    expect(await store.appendFrames("outage", 1, frames(1, "after"))).toBe("1-3");
  }, 20_000);

  it("drops a connection that stops answering and fails what waits on it within seconds", async () => {
    const proxy = await redisProxy();
    const { store } = open({ url: proxy.url });
    await store.createRun(newRun("silent"));
    proxy.freeze(); // connections stay open, nothing comes back (a partition without resets)
    const started = Date.now();
    const outcome = await store.appendFrames("silent", 1, frames(1)).catch((error: unknown) => error);
    expect(DurableError.isInstance(outcome) && outcome.code).toBe("STORE_UNAVAILABLE");
    expect(Date.now() - started).toBeLessThan(12_000);
    await proxy.cut();
    await proxy.restore();
    await vi.waitFor(async () => expect((await store.getRun("silent"))?.frameCount).toBe(1), { timeout: 8_000, interval: 200 });
  }, 25_000);

  it("does not close a client passed as redis", async () => {
    const mine = client();
    await mine.ping();
    const listeners = ["ready", "close", "error"].map((event) => mine.listenerCount(event));
    const { store } = open({ redis: mine });
    await store.createRun(newRun("caller-client"));
    store.subscribe("caller-client", () => {});
    await store.close();
    expect(mine.status).toBe("ready");
    expect(await mine.ping()).toBe("PONG");
    expect(["ready", "close", "error"].map((event) => mine.listenerCount(event))).toEqual(listeners);
    await expect(store.getRun("caller-client")).rejects.toMatchObject({ code: "STORE_UNAVAILABLE" });
  });
});

describe("RedisRunStore options", () => {
  it.each([
    [{ url: "http://localhost:6379" }, /"url" must be a Redis URL such as "redis:\/\/127\.0\.0\.1:6379"/],
    [{ url: "" }, /"url" must be a Redis URL/],
    [{ prefix: "" }, /"prefix" must be a non-empty string/],
    [{ retention: -1 }, /"retention" must be milliseconds >= 0/],
    [{ retention: Number.NaN }, /"retention" must be milliseconds >= 0/],
    [{ now: 5 }, /"now" must be a function/],
    [{ redis: {} }, /"redis" must be an ioredis client/],
    [{ redis: new Redis({ lazyConnect: true, keyPrefix: "app:" }) }, /without keyPrefix .* \{ prefix: "app:" \}/],
    [{ redis: new Redis({ lazyConnect: true }), url: "redis://127.0.0.1:6379" }, /either "redis" \(a client\) or "url", not both/],
  ])("refuses %o with INVALID_OPTIONS saying what to pass", (options, message) => {
    let error: unknown;
    try {
      new RedisRunStore(options as never);
    } catch (caught) {
      error = caught;
    }
    expect(InvalidOptionsError.isInstance(error) && error.code).toBe("INVALID_OPTIONS");
    expect((error as Error).message).toMatch(message);
  });
});

async function pubsubSubscribers(admin: Redis, channel: string): Promise<number> {
  const reply = (await admin.pubsub("NUMSUB", channel)) as [string, number];
  return Number(reply[1]);
}
