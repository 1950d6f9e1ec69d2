// Redis outages: Redis stopped (SIGTERM) and started again, and Redis paused (CLIENT PAUSE ALL),
// under the store alone and under a whole app served over real HTTP on loopback. Every test runs
// its own redis-server child process (private-redis.ts: AOF on, `appendfsync always`, a free port,
// a temporary directory), never the shared test Redis.
//
// What the tests hold the code to:
// - the store: while Redis is down every operation fails within ~5 s with a `DurableError`
//   `STORE_UNAVAILABLE` (none hangs); once Redis is back the same store object works again, with
//   the data written before the outage, and its live-tail subscriptions deliver again;
// - the store: a paused Redis delays operations, which then succeed;
// - the app: a run that loses Redis in the middle of a step, for 0.3 s, 2 s or 10 s, finishes once
//   Redis is back; the client (fetchWithStream, reconnecting by itself) ends up with exactly the
//   committed output and the result; and nothing is thrown into the event loop (no unhandled
//   rejection, no uncaught exception) along the way.
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { fetchWithStream, resumeStream, type FetchWithStreamOptions, type ReconnectAttempt } from "@durastream/client";
import { encodeFramePayload, hashStepId } from "@durastream/protocol";
import { createDurable, DurableError, step, stream, type Durable } from "@durastream/server";
import type { FrameToAppend, NewRun, RequestSnapshot, StepRecord } from "@durastream/server/store";
import { createEndpointServer } from "@durastream/server/node";
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished, vi } from "vitest";
import { runKeys } from "./keys.js";
import { PrivateRedis, redisServerAvailable, skipWithoutRedisServer } from "./private-redis.js";
import { RedisRunStore } from "./redis-store.js";

const available = redisServerAvailable("the Redis outage tests");

/** How long a store operation may take to fail while Redis is down. */
const FAIL_WITHIN = 5_000;

// ---------------------------------------------------------------------------------------------
// Errors thrown into the event loop. Vitest may report them too, but not as a failure of the test
// that caused them; recording them here makes that test fail, with the error in its message.

const processErrors: { kind: "unhandledRejection" | "uncaughtException"; error: unknown }[] = [];
const onUnhandledRejection = (error: unknown) => processErrors.push({ kind: "unhandledRejection", error });
const onUncaughtException = (error: unknown) => processErrors.push({ kind: "uncaughtException", error });
beforeAll(() => {
  process.on("unhandledRejection", onUnhandledRejection);
  process.on("uncaughtException", onUncaughtException);
});
afterAll(() => {
  process.off("unhandledRejection", onUnhandledRejection);
  process.off("uncaughtException", onUncaughtException);
});
beforeEach(() => {
  processErrors.length = 0;
});

/** The recorded process errors, one line each with the first stack lines, for assertions and messages. */
function describeProcessErrors(): string[] {
  return processErrors.map(({ kind, error }) => `${kind}: ${describeError(error, 6)}`);
}

// With OUTAGE_TRACE_STORE=1 the end-to-end tests hand the engine their store wrapped, so that each
// rejection remembers which engine code made the call: an unhandled rejection's own stack shows
// only the store's timer (the watchdog) or ioredis, not the code that dropped the promise. Off by
// default: the wrapper adds a promise (a microtask) to every call.
const TRACE_STORE = process.env.OUTAGE_TRACE_STORE === "1";
const callSites = new WeakMap<object, string>();

function traced<T extends object>(store: T): T {
  if (!TRACE_STORE) return store;
  return new Proxy(store, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const site = new Error("called");
        const result: unknown = (value as (...parameters: unknown[]) => unknown).apply(target, args);
        if (!(result instanceof Promise)) return result;
        return result.then(undefined, (error: unknown) => {
          if (typeof error === "object" && error !== null && !callSites.has(error)) {
            const frames = (site.stack ?? "")
              .split("\n")
              .slice(2)
              .map((line) => line.trim())
              .filter((line) => !line.includes("redis-outage.test"));
            callSites.set(error, `store.${String(key)}() called ${frames.slice(0, 6).join("\n      ")}`);
          }
          throw error;
        });
      };
    },
  });
}

/** An error report of `onError` (`{ error, phase }`) or a bare error, described. */
function describeReport(report: unknown): string {
  if (typeof report === "object" && report !== null && !(report instanceof Error) && "error" in report) {
    const { error, phase } = report as { error: unknown; phase?: unknown };
    return `(${String(phase)}) ${describeError(error, 4)}`;
  }
  return describeError(report, 4);
}

function describeError(error: unknown, stackLines = 0): string {
  if (!(error instanceof Error)) return String(error);
  const code = DurableError.isInstance(error) ? ` [${error.code}]` : "";
  const stack =
    stackLines === 0
      ? []
      : (error.stack ?? "")
          .split("\n")
          .slice(1, 1 + stackLines)
          .map((line) => line.trim());
  const site = callSites.get(error);
  return [`${error.name}${code}: ${error.message}`, ...stack, ...(site === undefined ? [] : [site])].join("\n    ");
}

// ---------------------------------------------------------------------------------------------
// Store-level helpers.

const request: RequestSnapshot = { method: "POST", url: "http://localhost/outage", headers: [], body: "{}", bodyEncoding: "text" };
const LEASE = 30_000;

function newRun(runId: string, overrides: Partial<NewRun> = {}): NewRun {
  return { runId, endpointId: "outage", createdAt: Date.now(), request, owner: "owner-1", leaseExpiresAt: Date.now() + LEASE, ...overrides };
}

function dataFrame(hashedStepId: string, data: unknown): FrameToAppend {
  return { type: "data", payload: encodeFramePayload({ type: "data", hashedStepId, data }) };
}

function commitFrame(hashedStepId: string): FrameToAppend {
  return { type: "commit", payload: encodeFramePayload({ type: "commit", hashedStepId }) };
}

/** How a promise settled within `ms`: its value or error, or still pending; and when. */
type Outcome = { status: "fulfilled"; value: unknown; ms: number } | { status: "rejected"; error: unknown; ms: number } | { status: "pending"; ms: number };

/** Waits up to `ms` for `promise` (a rejection after that is still handled: it is not unhandled). */
async function within(promise: Promise<unknown>, ms: number): Promise<Outcome> {
  const started = Date.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Outcome>((resolve) => (timer = setTimeout(() => resolve({ status: "pending", ms: Date.now() - started }), ms)));
  const settled = promise.then(
    (value): Outcome => ({ status: "fulfilled", value, ms: Date.now() - started }),
    (error: unknown): Outcome => ({ status: "rejected", error, ms: Date.now() - started }),
  );
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** An outcome in words: what the assertions compare ("STORE_UNAVAILABLE within 5 s" when all is well). */
function unavailableVerdict(outcome: Outcome): string {
  if (outcome.status === "pending") return `still pending after ${outcome.ms} ms`;
  if (outcome.status === "fulfilled") return `fulfilled after ${outcome.ms} ms with ${JSON.stringify(outcome.value)}`;
  const { error } = outcome;
  if (!DurableError.isInstance(error) || error.code !== "STORE_UNAVAILABLE") return `rejected after ${outcome.ms} ms with ${describeError(error)}`;
  return outcome.ms <= FAIL_WITHIN ? "STORE_UNAVAILABLE within 5 s" : `STORE_UNAVAILABLE, but only after ${outcome.ms} ms`;
}

/** The Redis clients' subscriber count of `channel`. */
async function subscribers(redis: PrivateRedis, channel: string): Promise<number> {
  const client = redis.client();
  try {
    const reply = (await client.call("PUBSUB", "NUMSUB", channel)) as [string, number];
    return Number(reply[1]);
  } finally {
    client.disconnect();
  }
}

/** Closes a store after the test (its connections retry forever otherwise). */
function closeAfterTest(store: RedisRunStore): RedisRunStore {
  onTestFinished(() => store.close());
  return store;
}

async function startPrivateRedis(): Promise<PrivateRedis> {
  const redis = await PrivateRedis.start({ aof: true, appendfsync: "always" });
  onTestFinished(() => redis.close());
  return redis;
}

describe.skipIf(!available)("the Redis store while Redis is down or paused (a private redis-server, AOF, appendfsync always)", () => {
  it("while Redis is stopped, every operation rejects with STORE_UNAVAILABLE within 5 s; started again, the same store reads what was written before, writes, and its subscriptions deliver again", async () => {
    const redis = await startPrivateRedis();
    const prefix = "outage-store:";
    const store = closeAfterTest(new RedisRunStore({ url: redis.url, prefix }));
    const one = await hashStepId("one");
    const wait = await hashStepId("wait");

    // Before the outage: run-1 running with a committed step, run-2 suspended waiting for an event.
    await store.createRun(newRun("run-1"));
    const stepOne: StepRecord = { hashedStepId: one, stepId: "one", position: 0, kind: "run", status: "succeeded", attempts: 1, output: '"ab"' };
    expect(await store.appendFrames("run-1", 1, [dataFrame(one, "a"), dataFrame(one, "b")])).toBe("1-2");
    expect(await store.appendFrames("run-1", 1, [commitFrame(one)], { step: stepOne })).toBe("1-3");
    const wakeAt = Date.now() + 3_600_000;
    await store.createRun(newRun("run-2", { owner: "owner-2" }));
    const waiting: StepRecord = {
      hashedStepId: wait,
      stepId: "wait",
      position: 0,
      kind: "wait-for-event",
      status: "waiting",
      attempts: 0,
      event: "test/go",
      wakeAt,
    };
    await store.appendFrames("run-2", 1, [], { step: waiting, suspend: { wakeAt } });
    const logBefore = await store.readFrames("run-1", undefined, 100);
    expect(logBefore.map((entry) => entry.offset)).toEqual(["1-1", "1-2", "1-3"]);

    // A live tail of run-1, subscribed (the SUBSCRIBE has taken effect) before the outage.
    let notified = 0;
    store.subscribe("run-1", () => (notified += 1));
    const channel = runKeys(prefix, "run-1").channel;
    await vi.waitFor(async () => expect(await subscribers(redis, channel)).toBe(1), { timeout: 5_000, interval: 10 });

    expect(await redis.stop()).toBe(0);
    const stoppedAt = Date.now();

    // Every RunStore operation that talks to Redis: all at once, right after the stop, then one
    // after another once Redis has been down for longer than the store's watchdog delay (3 s).
    // The writes of each round are told apart (run-3-<round>, "refused in round <round>").
    let round = "1";
    const operations: Record<string, () => Promise<unknown>> = {
      createRun: () => store.createRun(newRun(`run-3-${round}`)),
      getRun: () => store.getRun("run-1"),
      listSteps: () => store.listSteps("run-1"),
      appendFrames: () => store.appendFrames("run-1", 1, [dataFrame(one, `refused in round ${round}`)]),
      readFrames: () => store.readFrames("run-1", undefined, 100),
      claimRun: () => store.claimRun("run-1", "owner-9", Date.now() + LEASE, Date.now()),
      renewLease: () => store.renewLease("run-1", "owner-1", 1, Date.now() + LEASE),
      listResumableRuns: () => store.listResumableRuns(Date.now(), 10),
      nextWakeAt: () => store.nextWakeAt(),
      deliverEvent: () => store.deliverEvent({ name: "test/go", data: { n: 1 } }, Date.now()),
    };
    const expected = Object.fromEntries(Object.keys(operations).map((name) => [name, "STORE_UNAVAILABLE within 5 s"]));
    const messages: string[] = [];
    const verdict = (outcome: Outcome) => {
      if (outcome.status === "rejected") messages.push((outcome.error as Error).message);
      return unavailableVerdict(outcome);
    };

    const together = await Promise.all(
      Object.entries(operations).map(async ([name, operation]) => [name, verdict(await within(operation(), FAIL_WITHIN + 2_000))] as const),
    );
    expect(Object.fromEntries(together), "all at once, right after the stop").toEqual(expected);

    await sleep(Math.max(0, 3_500 - (Date.now() - stoppedAt)));
    round = "2";
    const oneByOne: [string, string][] = [];
    for (const [name, operation] of Object.entries(operations)) oneByOne.push([name, verdict(await within(operation(), FAIL_WITHIN + 2_000))]);
    expect(Object.fromEntries(oneByOne), "one after another, Redis down for over 3 s").toEqual(expected);
    // The errors say where Redis was expected and what to check.
    for (const message of messages) expect(message).toContain(`127.0.0.1:${redis.port}`);

    // Redis comes back with its AOF.
    await redis.start();

    // After the reconnection the subscriber subscribes again and calls every listener once, so that
    // it reads what it may have missed (notifications published while it was away are lost).
    await vi.waitFor(() => expect(notified).toBeGreaterThanOrEqual(1), { timeout: 5_000, interval: 10 });
    await vi.waitFor(async () => expect(await subscribers(redis, channel)).toBe(1), { timeout: 5_000, interval: 10 });

    // The same store object reads what was written before the outage ...
    const logAfter = await store.readFrames("run-1", undefined, 100);
    expect(logAfter.slice(0, 3)).toEqual(logBefore);
    expect(await store.listSteps("run-1")).toEqual([stepOne]);
    expect(await store.getRun("run-1")).toMatchObject({ status: "running", epoch: 1, owner: "owner-1" });
    expect(await store.getRun("run-2")).toMatchObject({ status: "suspended", wakeAt });
    // ... and none of the writes it reported as failed (STORE_UNAVAILABLE) happened after all: a
    // caller told "failed" retries or gives up, and must not find the write applied later (see
    // connection.ts: the store avoids `commandTimeout` for exactly this reason). Soft: the checks
    // after these tell more.
    expect
      .soft(
        logAfter.slice(3).map((entry) => entry.payload),
        "frames of appends that were rejected with STORE_UNAVAILABLE",
      )
      .toEqual([]);
    expect.soft((await store.getRun("run-1"))?.frameCount, "frameCount of run-1").toBe(3);
    expect.soft(await store.getRun("run-3-1"), "run-3-1, whose createRun was rejected (round 1, right after the stop)").toBeUndefined();
    expect.soft(await store.getRun("run-3-2"), "run-3-2, whose createRun was rejected (round 2, Redis down > 3 s)").toBeUndefined();
    const extra = logAfter.length - 3;
    expect(await store.nextWakeAt()).toBe(wakeAt);
    expect(await store.listResumableRuns(Date.now(), 10)).toEqual([]);
    expect(await store.renewLease("run-1", "owner-1", 1, Date.now() + LEASE)).toBe(true);

    // A write through another instance reaches the listener through pub/sub (a write through this
    // store would call it directly, proving nothing about the subscription).
    const other = closeAfterTest(new RedisRunStore({ url: redis.url, prefix }));
    notified = 0;
    expect(await other.appendFrames("run-1", 1, [dataFrame(one, "after")])).toBe(`1-${4 + extra}`);
    await vi.waitFor(() => expect(notified).toBeGreaterThanOrEqual(1), { timeout: 5_000, interval: 10 });

    // And this store writes again, and delivers events.
    expect(await store.appendFrames("run-1", 1, [dataFrame(one, "again")])).toBe(`1-${5 + extra}`);
    expect(await store.deliverEvent({ name: "test/go", data: { n: 2 } }, Date.now())).toEqual(["run-2"]);
    await store.createRun(newRun("run-4"));
    expect(await store.getRun("run-4")).toMatchObject({ status: "running", epoch: 1 });

    expect(describeProcessErrors()).toEqual([]);
  }, 40_000);

  it.each([500, 2_000])(
    "CLIENT PAUSE ALL for %i ms: operations wait for the pause to end, then succeed; a notification published during the pause arrives after it",
    async (pauseMs) => {
      const redis = await startPrivateRedis();
      const prefix = "outage-pause:";
      const store = closeAfterTest(new RedisRunStore({ url: redis.url, prefix }));
      const other = closeAfterTest(new RedisRunStore({ url: redis.url, prefix }));
      const one = await hashStepId("one");
      await store.createRun(newRun("run-1"));
      expect(await store.appendFrames("run-1", 1, [dataFrame(one, "a")])).toBe("1-1");
      const logBefore = await store.readFrames("run-1", undefined, 100);
      // `other` is connected, too, before the pause (its first command opens its connection).
      expect(await other.getRun("run-1")).toMatchObject({ status: "running" });

      let notified = 0;
      store.subscribe("run-1", () => (notified += 1));
      const channel = runKeys(prefix, "run-1").channel;
      await vi.waitFor(async () => expect(await subscribers(redis, channel)).toBe(1), { timeout: 5_000, interval: 10 });
      notified = 0;

      await redis.pause(pauseMs);
      const pausedAt = Date.now();
      // Reads first: one connection, so they see the log before the writes below.
      const operations: [string, () => Promise<unknown>, unknown][] = [
        ["getRun", () => store.getRun("run-1"), expect.objectContaining({ status: "running", epoch: 1, frameCount: 1 })],
        ["listSteps", () => store.listSteps("run-1"), []],
        ["readFrames", () => store.readFrames("run-1", undefined, 100), logBefore],
        ["nextWakeAt", () => store.nextWakeAt(), null],
        ["listResumableRuns", () => store.listResumableRuns(Date.now(), 10), []],
        ["claimRun", () => store.claimRun("run-1", "owner-9", Date.now() + LEASE, Date.now()), undefined],
        ["renewLease", () => store.renewLease("run-1", "owner-1", 1, Date.now() + LEASE), true],
        ["deliverEvent", () => store.deliverEvent({ name: "test/none" }, Date.now()), []],
        ["createRun", () => store.createRun(newRun("run-2")), expect.objectContaining({ runId: "run-2", status: "running", epoch: 1 })],
        ["appendFrames", () => store.appendFrames("run-1", 1, [dataFrame(one, "b")]), "1-2"],
        ["appendFrames (another instance)", () => other.appendFrames("run-1", 1, [dataFrame(one, "c")]), "1-3"],
      ];
      const outcomes = await Promise.all(operations.map(([, operation]) => within(operation(), pauseMs + 8_000)));
      const notifiedAfterPause = notified;

      // Each succeeded, with what it would have returned without the pause ...
      expect(
        Object.fromEntries(
          operations.map(([name], index) => [
            name,
            outcomes[index]!.status === "fulfilled" ? (outcomes[index] as { value: unknown }).value : describeOutcome(outcomes[index]!),
          ]),
        ),
      ).toEqual(Object.fromEntries(operations.map(([name, , value]) => [name, value])));
      // ... once the pause was over (Redis answered nothing before), and not much later.
      expect(
        Object.fromEntries(
          operations.map(([name], index) => [
            name,
            outcomes[index]!.ms >= pauseMs - 50 ? "after the pause" : `after ${outcomes[index]!.ms} ms, during the pause`,
          ]),
        ),
      ).toEqual(Object.fromEntries(operations.map(([name]) => [name, "after the pause"])));
      expect(Date.now() - pausedAt).toBeLessThan(pauseMs + 4_000);
      // The write through the other instance was published during the pause and reaches the listener after it.
      expect(notifiedAfterPause).toBeGreaterThanOrEqual(1);
      expect((await store.readFrames("run-1", undefined, 100)).map((entry) => entry.offset)).toEqual(["1-1", "1-2", "1-3"]);

      expect(describeProcessErrors()).toEqual([]);
    },
    30_000,
  );
});

function describeOutcome(outcome: Outcome): string {
  if (outcome.status === "pending") return `still pending after ${outcome.ms} ms`;
  if (outcome.status === "rejected") return `rejected after ${outcome.ms} ms with ${describeError(outcome.error)}`;
  return `fulfilled after ${outcome.ms} ms`;
}

// ---------------------------------------------------------------------------------------------
// End to end: an app on the Redis store, served over loopback HTTP, and a fetchWithStream client.

/** Gates the handler waits at, opened by the test; knows where the handler is waiting. */
class Gates {
  readonly #gates = new Map<string, { promise: Promise<void>; open: () => void }>();
  /** Gate names the handler has arrived at (in order, repeats included: a retried attempt waits again). */
  readonly arrivals: string[] = [];
  readonly #onChange: () => void;

  constructor(onChange: () => void) {
    this.#onChange = onChange;
  }

  /** The handler waits here until the test opens the gate (at once when it is open already). */
  wait(name: string): Promise<void> {
    this.arrivals.push(name);
    this.#onChange();
    return this.#gate(name).promise;
  }

  open(name: string): void {
    this.#gate(name).open();
  }

  #gate(name: string) {
    let gate = this.#gates.get(name);
    if (gate === undefined) {
      let open!: () => void;
      const promise = new Promise<void>((resolve) => (open = resolve));
      gate = { promise, open };
      this.#gates.set(name, gate);
    }
    return gate;
  }
}

/** What the client saw, as one line per callback, and the committed view (rolled back chunks dropped). */
class ClientView {
  readonly events: string[] = [];
  readonly committed: unknown[] = [];
  readonly pending = new Map<string | null, unknown[]>();
  readonly reconnects: ReconnectAttempt[] = [];
  result: { status: string; body: string } | undefined;
  resumeUrl: string | undefined;
  streamError: unknown;
  readonly #onChange: () => void;

  constructor(
    onChange: () => void,
    readonly stepNames: ReadonlyMap<string, string>,
  ) {
    this.#onChange = onChange;
  }

  get callbacks(): FetchWithStreamOptions {
    const name = (hashedStepId: string | null) => (hashedStepId === null ? "outside" : (this.stepNames.get(hashedStepId) ?? hashedStepId.slice(0, 8)));
    const record = (line: string) => {
      this.events.push(line);
      this.#onChange();
    };
    return {
      onMetadata: ({ resumeUrl }) => {
        this.resumeUrl ??= resumeUrl ?? undefined;
        record(`metadata`);
      },
      onData: ({ data, hashedStepId, offset }) => {
        this.pending.set(hashedStepId, [...(this.pending.get(hashedStepId) ?? []), data]);
        record(`${offset} data ${name(hashedStepId)} ${JSON.stringify(data)}`);
      },
      onCommit: ({ hashedStepId, offset }) => {
        this.committed.push(...(this.pending.get(hashedStepId) ?? []));
        this.pending.delete(hashedStepId);
        record(`${offset} commit ${name(hashedStepId)}`);
      },
      onRollback: ({ hashedStepId, offset, attempt, willRetry, error }) => {
        this.pending.delete(hashedStepId);
        record(`${offset} rollback ${name(hashedStepId)} attempt ${attempt}${willRetry ? " (will retry)" : ""}: ${error.name}: ${error.message}`);
      },
      onResult: ({ status, response, offset }) => {
        this.result = { status, body: response.body };
        record(`${offset} result ${status} ${response.status} ${response.body}`);
      },
      onRedirect: ({ reason }) => record(`redirect (${reason})`),
      onReconnect: (attempt) => {
        this.reconnects.push(attempt);
        record(`reconnect #${attempt.attempt}: ${attempt.error.code}: ${attempt.error.message}`);
      },
      onStreamError: (error) => {
        this.streamError = error;
        record(`stream error ${error.code}: ${error.message}`);
      },
    };
  }

  has(line: RegExp): boolean {
    return this.events.some((event) => line.test(event));
  }
}

/** Resolves when `condition()` holds, checked whenever `notify()` is called; rejects after `timeout` with `diagnose()`. */
class Conditions {
  readonly #waiters = new Set<() => void>();

  constructor(readonly diagnose: () => Promise<string> | string) {}

  notify = (): void => {
    for (const waiter of [...this.#waiters]) waiter();
  };

  until(what: string, condition: () => boolean, timeout = 10_000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        void Promise.resolve(this.diagnose()).then(
          (diagnosis) => reject(new Error(`Waited ${timeout} ms for ${what}, in vain.\n${diagnosis}`)),
          (error: unknown) => reject(new Error(`Waited ${timeout} ms for ${what}, in vain (and the diagnosis failed: ${describeError(error)}).`)),
        );
      }, timeout);
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
    });
  }
}

const EXPECTED_OUTPUT = ["1a", "1b", "2a", "2b", "2c", "3a", "3b"];
const EXPECTED_BODY = { one: "one", two: "two", three: "three" };
/** How long the run may take to finish once Redis answers again. */
const FINISH_WITHIN = 20_000;

describe.skipIf(!available)("a Redis outage in the middle of a run, end to end over HTTP (a private redis-server, AOF, appendfsync always)", () => {
  it.each([
    ["stopped", 300],
    ["stopped", 2_000],
    ["stopped", 10_000],
    ["paused (CLIENT PAUSE ALL)", 8_000],
  ] as const)(
    "Redis %s for %i ms while step two streams: no unhandled rejection, the run finishes, and the client's committed view is exactly the output, with the result",
    async (kind, outageMs) => {
      const redis = await startPrivateRedis();
      const store = new RedisRunStore({ url: redis.url });
      const durable: Durable = createDurable({ store: traced(store), secret: "outage-test-secret-0000", backoff: () => 0, maxInlineWait: 1000 });
      const serverErrors: unknown[] = [];
      const consoleErrors: string[] = [];
      const consoleSpy = vi.spyOn(console, "error").mockImplementation((...parts: unknown[]) => {
        consoleErrors.push(parts.map((part) => (part instanceof Error ? describeError(part, 4) : String(part))).join(" "));
      });
      onTestFinished(() => consoleSpy.mockRestore());

      const [one, two, three] = await Promise.all([hashStepId("one"), hashStepId("two"), hashStepId("three")]);
      const stepNames = new Map([
        [one, "one"],
        [two, "two"],
        [three, "three"],
      ]);
      const executions: string[] = [];
      const conditions = new Conditions(() => diagnose());
      const view = new ClientView(conditions.notify, stepNames);
      const gates = new Gates(conditions.notify);

      const endpoint = durable.endpoint(
        async () => {
          const first = await step.run("one", async ({ attempt }) => {
            executions.push(`one#${attempt}`);
            stream.push("1a");
            await gates.wait("1b");
            stream.push("1b");
            return "one";
          });
          const second = await step.run("two", async ({ attempt }) => {
            executions.push(`two#${attempt}`);
            stream.push("2a");
            await gates.wait("2b");
            stream.push("2b");
            await gates.wait("2c");
            stream.push("2c");
            return "two";
          });
          const third = await step.run("three", async ({ attempt }) => {
            executions.push(`three#${attempt}`);
            stream.push("3a");
            await gates.wait("3b");
            stream.push("3b");
            return "three";
          });
          return Response.json({ one: first, two: second, three: third });
        },
        { id: "outage-story" },
      );
      const waitEndpoint = durable.waitEndpoint();
      const server: Server = createEndpointServer(
        async (request) => {
          const { pathname } = new URL(request.url);
          if (pathname.startsWith("/api/durable/")) return waitEndpoint(request);
          if (pathname === "/story") return endpoint(request);
          return new Response("not found", { status: 404 });
        },
        // Receives `{ error, phase }` (or, from older engines, the error itself).
        { onError: (report: unknown) => serverErrors.push(report) },
      );
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const port = (server.address() as AddressInfo).port;
      onTestFinished(async () => {
        // The run may be stuck (that is what these tests look for): do not wait for it long.
        await Promise.race([Promise.resolve(durable.close({ timeout: 500 })).catch(() => {}), sleep(5_000)]);
        await store.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      });

      const timeline: string[] = [];
      const t0 = Date.now();
      const mark = (what: string) => timeline.push(`${String(Date.now() - t0).padStart(6)} ms  ${what}`);

      /** Everything there is to know when something did not happen in time. */
      async function diagnose(): Promise<string> {
        let runState = "(no run id yet)";
        const runId = view.resumeUrl === undefined ? undefined : new URL(view.resumeUrl).pathname.split("/").at(-1);
        if (runId !== undefined) {
          const inspector = new RedisRunStore({ url: redis.url });
          try {
            const record = await within(inspector.getRun(runId), 3_000);
            const journal = await within(inspector.listSteps(runId), 3_000);
            const log = await within(inspector.readFrames(runId, undefined, 1_000), 3_000);
            runState = [
              `run record: ${record.status === "fulfilled" ? JSON.stringify(record.value, (key, value) => (key === "request" ? undefined : value)) : describeOutcome(record)}`,
              `journal: ${journal.status === "fulfilled" ? (journal.value as StepRecord[]).map((entry) => `${entry.stepId}=${entry.status}/${entry.attempts}`).join(", ") : describeOutcome(journal)}`,
              `stored log:\n      ${log.status === "fulfilled" ? (log.value as { offset: string; type: string; payload: string }[]).map((entry) => `${entry.offset} ${entry.type} ${entry.payload.slice(0, 120)}`).join("\n      ") : describeOutcome(log)}`,
            ].join("\n  ");
          } finally {
            await inspector.close();
          }
        }
        return [
          `outage: ${outageMs} ms; Redis running: ${redis.running}`,
          `timeline:\n  ${timeline.join("\n  ")}`,
          `handler: executions ${JSON.stringify(executions)}, gate arrivals ${JSON.stringify(gates.arrivals)}`,
          `client events:\n  ${view.events.join("\n  ")}`,
          `client committed view: ${JSON.stringify(view.committed)}`,
          `store:\n  ${runState}`,
          `process errors:\n  ${describeProcessErrors().join("\n  ") || "(none)"}`,
          `server (serveEndpoint onError) errors:\n  ${serverErrors.map(describeReport).join("\n  ") || "(none)"}`,
          `console.error:\n  ${consoleErrors.join("\n  ") || "(none)"}`,
        ].join("\n");
      }

      // The client: one POST, then (by itself) reconnects to the resume URL whenever a connection
      // fails, 250 ms apart, for as long as a minute: the server is under test here, not the
      // client's patience.
      mark("POST /story");
      const clientDone = fetchWithStream(`http://127.0.0.1:${port}/story`, {
        ...view.callbacks,
        fetchOpts: { method: "POST", body: "{}", headers: { "content-type": "application/json" } },
        reconnect: { retries: 240, initialDelay: 250, factor: 1, jitter: 0 },
      });
      let clientSettled: { ok: true; response: Response } | { ok: false; error: unknown } | undefined;
      const clientOutcome = clientDone.then(
        (response) => (clientSettled = { ok: true, response }),
        (error: unknown) => (clientSettled = { ok: false, error }),
      );
      void clientOutcome.then(conditions.notify);
      const clientFailed = () => clientSettled !== undefined && !clientSettled.ok;

      // Step one streams and commits while Redis is up.
      await conditions.until('the client to receive "1a"', () => view.has(/ data one "1a"$/) || clientFailed());
      gates.open("1b");
      await conditions.until("the client to receive step one's commit", () => view.has(/ commit one$/) || clientFailed());
      // Step two has streamed "2a" (stored: the client read it from the log) and waits at gate 2b.
      await conditions.until(
        'the client to receive "2a", the handler waiting at gate 2b',
        () => (view.has(/ data two "2a"$/) && gates.arrivals.includes("2b")) || clientFailed(),
      );
      expect(clientSettled).toBeUndefined();
      mark("step one committed, step two streamed 2a and waits at gate 2b");

      // The outage. Step two goes on meanwhile: "2b" at once, "2c" and its return halfway through.
      mark(`${kind === "stopped" ? "stopping" : "pausing"} Redis for ${outageMs} ms`);
      if (kind === "stopped") expect(await redis.stop()).toBe(0);
      else await redis.pause(outageMs);
      const stoppedAt = Date.now();
      mark("Redis stopped; opening gate 2b");
      gates.open("2b");
      await sleep(outageMs / 2);
      mark("opening gate 2c");
      gates.open("2c");
      await sleep(Math.max(0, outageMs - (Date.now() - stoppedAt)));
      if (kind === "stopped") await redis.start();
      mark(`Redis answers PING again (down ${Date.now() - stoppedAt} ms)`);

      // Step three streams "3a"; once the client has it, the handler may go on.
      await conditions.until('the client to receive "3a" after the outage', () => view.has(/ data three "3a"$/) || clientFailed(), FINISH_WITHIN);
      mark('client received "3a"; opening gate 3b');
      gates.open("3b");
      await conditions.until("the run to finish (fetchWithStream to settle)", () => clientSettled !== undefined, FINISH_WITHIN);
      mark("fetchWithStream settled");

      // Errors thrown into the event loop by then, or a little later (the background work that
      // follows the run's end: lease release, scheduler).
      await sleep(200);
      const diagnosis = await diagnose();
      expect(describeProcessErrors(), `no unhandled rejection or uncaught exception\n${diagnosis}`).toEqual([]);

      // The run finished, and the client has exactly the output, and the result.
      expect(clientSettled, diagnosis).toMatchObject({ ok: true });
      const response = (clientSettled as { ok: true; response: Response }).response;
      expect(response.status, diagnosis).toBe(200);
      expect(await response.json()).toEqual(EXPECTED_BODY);
      expect(view.result, diagnosis).toEqual({ status: "succeeded", body: JSON.stringify(EXPECTED_BODY) });
      expect(view.committed, diagnosis).toEqual(EXPECTED_OUTPUT);
      expect([...view.pending.values()].flat(), `no chunk left uncommitted\n${diagnosis}`).toEqual([]);
      expect(view.streamError).toBeUndefined();
      // Step one was committed before the outage: it never ran again.
      expect(
        executions.filter((execution) => execution.startsWith("one#")),
        diagnosis,
      ).toEqual(["one#1"]);
      expect((await store.getRun(new URL(view.resumeUrl!).pathname.split("/").at(-1)!))?.status).toBe("succeeded");

      // The stored log, read again from the start by a second client, gives the same view.
      const replay = new ClientView(() => {}, stepNames);
      const replayed = await resumeStream(view.resumeUrl!, { ...replay.callbacks, reconnect: false });
      expect(replayed.status).toBe(200);
      expect(replay.committed, `replayed log\n${replay.events.join("\n")}`).toEqual(EXPECTED_OUTPUT);
      expect(replay.result).toEqual(view.result);

      expect(describeProcessErrors(), "no unhandled rejection or uncaught exception (end of test)").toEqual([]);
      // The whole story, on request (a passing test stays quiet in CI).
      if (process.env.OUTAGE_VERBOSE === "1")
        console.info(
          `[redis-outage ${outageMs} ms]\n  ${timeline.join("\n  ")}\n  client events:\n    ${view.events.join("\n    ")}` +
            `\n  handler executions: ${JSON.stringify(executions)}` +
            `\n  console.error (engine's background error log):\n    ${consoleErrors.join("\n    ") || "(none)"}` +
            `\n  serveEndpoint onError:\n    ${serverErrors.map(describeReport).join("\n    ") || "(none)"}`,
        );
    },
    60_000,
  );
});

if (!available) skipWithoutRedisServer();
