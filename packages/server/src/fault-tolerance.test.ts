// Fault tolerance of the engine, in process: store outages and failed writes (FaultyStore), lease
// renewals that fail, crashed executors (a FaultyStore that is killed: its process "died"), thrown
// values of any shape, step timeouts and graceful shutdown. Time moves only through injected timers.
import { InvalidOptionsError, createFrameDecoder, type Frame, type RollbackFrame } from "@durastream/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { BackgroundError } from "./background-errors.js";
import { createErrorReporter } from "./background-errors.js";
import { step, stream } from "./context.js";
import { createDurable, type Durable, type DurableOptions, type EndpointOptions } from "./create-durable.js";
import type { DurableHandler } from "./run-types.js";
import { DurableError } from "./errors.js";
import { MemoryRunStore } from "./store/memory-store.js";
import type { FrameToAppend } from "./store/run-store.js";
import {
  advanceUntil,
  collectFrames,
  committedData,
  createManualTimers,
  FaultyStore,
  passTime,
  sseRequest,
  until,
  type ManualTimers,
} from "@durastream/testing";

const opened: Durable[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
process.on("unhandledRejection", onUnhandled);
afterEach(() => {
  for (const durable of opened.splice(0)) void durable.close({ timeout: 0 });
  expect(unhandled.splice(0)).toEqual([]);
});

interface Setup {
  durable: Durable;
  endpoint: (request: Request) => Promise<Response>;
  waitEndpoint: (request: Request) => Promise<Response>;
  errors: BackgroundError[];
}

function setup(handler: DurableHandler, options: DurableOptions & { timers: ManualTimers }, endpointOptions: EndpointOptions = {}): Setup {
  const errors: BackgroundError[] = [];
  const durable = createDurable({ backoff: () => 0, maxInlineWait: 1000, onError: (report) => errors.push(report), ...options });
  opened.push(durable);
  return { durable, endpoint: durable.endpoint(handler, { id: "test", ...endpointOptions }), waitEndpoint: durable.waitEndpoint(), errors };
}

/** Reads an SSE response into `frames` as they arrive; resolves when it ends. */
function readInto(response: Response, frames: Frame[]): Promise<void> {
  const decoder = createFrameDecoder({ onFrame: (frame) => frames.push(frame) });
  const reader = response.body!.getReader();
  return (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      decoder.feed(value);
    }
    decoder.end();
  })();
}

const rollbacks = (frames: readonly Frame[]) => frames.filter((frame): frame is RollbackFrame => frame.type === "rollback");
const lastOffset = (frames: readonly Frame[]) => frames.filter((frame) => "offset" in frame).at(-1) as { offset: string } | undefined;
const hasData = (frames: readonly FrameToAppend[]) => frames.some((frame) => frame.type === "data");
const hasType = (type: string) => (_runId: string, _epoch: number, frames: readonly FrameToAppend[]) => frames.some((frame) => frame.type === type);

/** A promise with its resolver, for steps the test releases. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe("background work never throws into the event loop", () => {
  it("a store outage while a run sleeps is reported to onError (poll, long-poll); once the store is back the run wakes and finishes", async () => {
    const timers = createManualTimers();
    const store = new FaultyStore(new MemoryRunStore());
    const { endpoint, waitEndpoint, errors } = setup(
      async () => {
        await step.run("before", () => stream.push("before"));
        await step.sleep("nap", "1h");
        await step.run("after", () => stream.push("after"));
        return Response.json({ ok: true });
      },
      { store, timers, pollInterval: 1000 },
    );
    const live = await collectFrames(await endpoint(sseRequest("http://app.test/chat", { method: "POST" })));
    const redirect = live.at(-1)!;
    expect(redirect).toMatchObject({ type: "redirect", reason: "sleep" });

    store.outage();
    await passTime(timers, 3_600_000 + 5_000, 60_000);
    expect(errors.some((error) => error.phase === "poll" && DurableError.isInstance(error.error) && error.error.code === "STORE_UNAVAILABLE")).toBe(true);
    // The wait endpoint answers 503 (the client retries) instead of failing the request.
    const during = await waitEndpoint(new Request((redirect as { url: string }).url));
    expect(during.status).toBe(503);
    expect(during.headers.get("retry-after")).toBe("1");

    store.restore();
    const rest: Frame[] = [];
    const reading = readInto(
      await waitEndpoint(
        new Request((redirect as { url: string }).url, { headers: { accept: "text/event-stream", "last-event-id": lastOffset(live)!.offset } }),
      ),
      rest,
    );
    await advanceUntil(timers, () => rest.some((frame) => frame.type === "result"), { what: "the result after the outage" });
    await reading;
    expect(committedData([...live, ...rest])).toEqual(["before", "after"]);
    expect(rest.at(-1)).toMatchObject({ type: "result", status: "succeeded" });
  });

  it("without onError, background errors are logged once per kind and rate-limited", () => {
    let now = 0;
    const lines: string[] = [];
    const report = createErrorReporter(
      undefined,
      () => now,
      (line) => lines.push(line),
    );
    const down = new DurableError("STORE_UNAVAILABLE", "Redis is down");
    for (let index = 0; index < 50; index += 1) report("poll", down);
    report("lease", down, "run-1");
    report("poll", new TypeError("boom"));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain("poll error: DurableError: Redis is down");
    expect(lines[1]).toContain("lease error (run run-1)");
    now += 60_000;
    report("poll", down);
    expect(lines).toHaveLength(4);
    expect(lines[3]).toContain("49 more like it");
  });

  it("an onError that throws is ignored", async () => {
    const report = createErrorReporter(
      () => {
        throw new Error("reporter broke");
      },
      () => 0,
    );
    expect(() => report("poll", new Error("x"))).not.toThrow();
  });
});

describe("store write failures fail the attempt, then the run; never a loop", () => {
  it("a failed append of a step's chunks fails that attempt (STORE_UNAVAILABLE, rolled back) and the retry's output is committed once", async () => {
    const timers = createManualTimers();
    const store = new FaultyStore(new MemoryRunStore());
    const attempts: number[] = [];
    const { endpoint, errors } = setup(
      async () => {
        const text = await step.run("answer", ({ attempt }) => {
          attempts.push(attempt);
          stream.push("x");
          stream.push("y");
          return "xy";
        });
        return Response.json({ text });
      },
      { store, timers, retries: 2 },
    );
    store.failNext("appendFrames", 1, (_runId: string, _epoch: number, frames: readonly FrameToAppend[]) => hasData(frames));
    const frames = await collectFrames(await endpoint(sseRequest()));
    expect(attempts).toEqual([1, 2]);
    expect(rollbacks(frames)).toHaveLength(1);
    expect(rollbacks(frames)[0]).toMatchObject({ attempt: 1, willRetry: true, error: { name: "DurableError" } });
    expect(rollbacks(frames)[0]!.error.message).toContain("the store failed to take this attempt's chunks");
    expect(committedData(frames)).toEqual(["x", "y"]);
    expect(frames.at(-1)).toMatchObject({ type: "result", status: "succeeded" });
    expect(errors.length).toBe(0); // the attempt's failure is reported on the wire, not as a background error
  });

  it("when the store keeps losing the step's chunks, the step runs retries + 1 times and the client gets a failed result", async () => {
    const timers = createManualTimers();
    const store = new FaultyStore(new MemoryRunStore());
    let executions = 0;
    const { endpoint } = setup(
      async () => {
        await step.run("answer", () => {
          executions += 1;
          stream.push("x");
        });
        return Response.json({ ok: true });
      },
      { store, timers, retries: 2 },
    );
    store.failNext("appendFrames", 1_000, (_runId: string, _epoch: number, frames: readonly FrameToAppend[]) => hasData(frames));
    const frames = await collectFrames(await endpoint(sseRequest()));
    expect(executions).toBe(3);
    expect(rollbacks(frames).map((frame) => [frame.attempt, frame.willRetry])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    expect(frames.at(-1)).toMatchObject({ type: "result", status: "failed", response: { status: 500 } });
    expect(committedData(frames)).toEqual([]);
    expect(frames.some((frame) => frame.type === "rollback" && frame.error.name === "InterruptedError")).toBe(false);
  });

  it("a commit whose reply was lost (the write landed) is stored again instead of running the step again", async () => {
    const timers = createManualTimers();
    const store = new FaultyStore(new MemoryRunStore());
    let executions = 0;
    const { endpoint, errors } = setup(
      async () => {
        const value = await step.run("answer", () => {
          executions += 1;
          stream.push("only once");
          return 42;
        });
        return Response.json({ value });
      },
      { store, timers },
    );
    store.failAfterNext("appendFrames", 1, hasType("commit"));
    const response = endpoint(sseRequest());
    const frames = await collectFrames(await response);
    expect(executions).toBe(1);
    expect(rollbacks(frames)).toEqual([]);
    expect(committedData(frames)).toEqual(["only once"]);
    expect(frames.at(-1)).toMatchObject({ type: "result", status: "succeeded" });
    expect(errors.map((error) => error.phase)).toEqual(["write"]);
  });

  it("a rollback that cannot be written for a while is retried until the store takes it", async () => {
    const timers = createManualTimers();
    const store = new FaultyStore(new MemoryRunStore());
    let executions = 0;
    const { endpoint, errors } = setup(
      async () => {
        await step.run("flaky", () => {
          executions += 1;
          if (executions === 1) throw new Error("first attempt fails");
          stream.push("done");
        });
        return Response.json({ ok: true });
      },
      { store, timers },
    );
    store.failNext("appendFrames", 3, hasType("rollback"));
    const frames: Frame[] = [];
    const reading = readInto(await endpoint(sseRequest()), frames);
    await advanceUntil(timers, () => frames.some((frame) => frame.type === "result"), { stepSize: 100, what: "the result" });
    await reading;
    expect(executions).toBe(2);
    expect(rollbacks(frames).map((frame) => frame.attempt)).toEqual([1]);
    expect(committedData(frames)).toEqual(["done"]);
    expect(errors.filter((error) => error.phase === "write")).toHaveLength(3);
  });
});

describe("leases", () => {
  it("one failed renewal does not drop a run whose lease has time left: the step runs once, no rollback", async () => {
    const timers = createManualTimers();
    const store = new FaultyStore(new MemoryRunStore());
    const release = gate();
    let executions = 0;
    const { endpoint, errors } = setup(
      async () => {
        await step.run("long", async () => {
          executions += 1;
          stream.push("working");
          await release.promise;
        });
        return Response.json({ ok: true });
      },
      { store, timers, leaseDuration: 3000 },
    );
    store.failNext("renewLease", 1);
    const frames: Frame[] = [];
    const reading = readInto(await endpoint(sseRequest()), frames);
    await until(() => frames.some((frame) => frame.type === "data"));
    await passTime(timers, 5000, 100); // the first renewal fails, the retry succeeds, later ones too
    release.open();
    await reading;
    expect(executions).toBe(1);
    expect(rollbacks(frames)).toEqual([]);
    expect(frames.at(-1)).toMatchObject({ type: "result", status: "succeeded" });
    expect(errors.map((error) => error.phase)).toEqual(["lease"]);
  });

  it("an execution whose lease expired while renewals failed stops: its signal aborts, its late chunks are dropped, another executor finishes the run", async () => {
    const timers = createManualTimers();
    const memory = new MemoryRunStore();
    const storeA = new FaultyStore(memory);
    const storeB = new FaultyStore(memory);
    const release = gate();
    const signals: AbortSignal[] = [];
    const handler: DurableHandler = async () => {
      await step.run("long", async ({ attempt, signal }) => {
        signals.push(signal);
        stream.push(`attempt ${attempt}`);
        if (attempt === 1) {
          await release.promise;
          stream.push("late");
        }
      });
      return Response.json({ ok: true });
    };
    const a = setup(handler, { store: storeA, timers, leaseDuration: 3000, pollInterval: 1000 });
    const live: Frame[] = [];
    void readInto(await a.endpoint(sseRequest()), live);
    await until(() => live.some((frame) => frame.type === "data"));
    storeA.failNext("renewLease", 1_000);
    await advanceUntil(timers, () => signals[0]!.aborted, { stepSize: 100, what: "the lost execution's signal" });
    expect(DurableError.isInstance(signals[0]!.reason) && signals[0]!.reason.code).toBe("STORE_UNAVAILABLE");
    expect(a.errors.some((error) => error.phase === "lease")).toBe(true);

    const b = setup(handler, { store: storeB, timers, leaseDuration: 3000, pollInterval: 1000 });
    const resumeUrl = (live[0] as { resumeUrl: string }).resumeUrl;
    const frames: Frame[] = [];
    const reading = readInto(await b.waitEndpoint(new Request(resumeUrl, { headers: { accept: "text/event-stream" } })), frames);
    await advanceUntil(timers, () => frames.some((frame) => frame.type === "result"), { stepSize: 500, what: "the takeover's result" });
    await reading;
    release.open(); // the first attempt's late work changes nothing
    await passTime(timers, 1000);
    expect(signals).toHaveLength(2);
    const runId = (live[0] as { runId: string }).runId;
    const log = await memory.readFrames(runId, undefined, 100);
    expect(log.filter((entry) => entry.type === "data").map((entry) => JSON.parse(entry.payload).data)).toEqual(["attempt 1", "attempt 2"]);
    expect(rollbacks(frames)).toMatchObject([{ attempt: 1, error: { name: "InterruptedError" } }]);
    expect(committedData(frames)).toEqual(["attempt 2"]);
  });
});

describe("errors of any shape", () => {
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const shapes: [string, () => unknown][] = [
    ["Object.create(null)", () => Object.create(null)],
    [
      "an object whose toString throws",
      () => ({
        toString: () => {
          throw new Error("nope");
        },
      }),
    ],
    ["a Symbol", () => Symbol("boom")],
    ["a revoked Proxy", () => revoked.proxy],
    [
      "an Error whose message getter throws",
      () =>
        Object.defineProperty(new Error(), "message", {
          get: () => {
            throw new Error("nope");
          },
        }),
    ],
    ["undefined", () => undefined],
    ["a number", () => 42],
  ];

  it.each(shapes)("a step that throws %s is rolled back and retried like any error", async (_name, value) => {
    const timers = createManualTimers();
    const attempts: number[] = [];
    const { endpoint } = setup(
      async () => {
        await step.run("shaky", ({ attempt }) => {
          attempts.push(attempt);
          stream.push(`attempt ${attempt}`);
          if (attempt === 1) throw value();
        });
        return Response.json({ ok: true });
      },
      { store: new MemoryRunStore(), timers },
    );
    const frames = await collectFrames(await endpoint(sseRequest()));
    expect(attempts).toEqual([1, 2]);
    const [rollback] = rollbacks(frames);
    expect(rollback).toMatchObject({ attempt: 1, willRetry: true });
    expect(typeof rollback!.error.message).toBe("string");
    expect(committedData(frames)).toEqual(["attempt 2"]);
    expect(frames.at(-1)).toMatchObject({ type: "result", status: "succeeded" });
  });

  it.each(shapes)("a handler that throws %s fails the run with a 500 result", async (_name, value) => {
    const timers = createManualTimers();
    const { endpoint } = setup(
      async () => {
        throw value();
      },
      { store: new MemoryRunStore(), timers },
    );
    const frames = await collectFrames(await endpoint(sseRequest()));
    expect(frames.at(-1)).toMatchObject({ type: "result", status: "failed", response: { status: 500 } });
  });
});

describe("step timeout", () => {
  it("an attempt that does not settle in time fails with TIMEOUT (its signal aborts) and is retried", async () => {
    const timers = createManualTimers();
    const signals: AbortSignal[] = [];
    const { endpoint } = setup(
      async () => {
        const value = await step.run({ id: "slow", timeout: "5s" }, ({ attempt, signal }) => {
          signals.push(signal);
          stream.push(`attempt ${attempt}`);
          return attempt === 1 ? new Promise<string>(() => {}) : "done";
        });
        return Response.json({ value });
      },
      { store: new MemoryRunStore(), timers },
    );
    const frames: Frame[] = [];
    const reading = readInto(await endpoint(sseRequest()), frames);
    await until(() => frames.some((frame) => frame.type === "data"));
    await passTime(timers, 4_000);
    expect(signals).toHaveLength(1);
    expect(signals[0]!.aborted).toBe(false);
    await passTime(timers, 1_000);
    await reading;
    expect(signals[0]!.aborted).toBe(true);
    expect(DurableError.isInstance(signals[0]!.reason) && signals[0]!.reason.code).toBe("TIMEOUT");
    expect(rollbacks(frames)).toMatchObject([{ attempt: 1, willRetry: true, error: { name: "DurableError" } }]);
    expect(rollbacks(frames)[0]!.error.message).toContain("did not finish within 5000 ms");
    expect(committedData(frames)).toEqual(["attempt 2"]);
    expect(frames.at(-1)).toMatchObject({ type: "result", status: "succeeded" });
  });

  it("the endpoint's stepTimeout applies to every step; a pipe in a timed-out attempt stops pulling", async () => {
    const timers = createManualTimers();
    let pulled = 0;
    const { endpoint } = setup(
      async () => {
        await step.run({ id: "endless", retries: 0 }, () =>
          stream.pipe(async function* () {
            for (;;) {
              pulled += 1;
              yield "tick ";
              await new Promise((resolve) => timers.setTimeout(() => resolve(undefined), 100));
            }
          }),
        );
        return Response.json({ ok: true });
      },
      { store: new MemoryRunStore(), timers },
      { stepTimeout: 1_000 },
    );
    const frames: Frame[] = [];
    const reading = readInto(await endpoint(sseRequest()), frames);
    await passTime(timers, 1_500, 100);
    await reading;
    const pulledAtEnd = pulled;
    await passTime(timers, 1_000, 100);
    expect(pulled).toBe(pulledAtEnd);
    expect(pulled).toBeLessThanOrEqual(11);
    expect(rollbacks(frames)).toMatchObject([{ attempt: 1, willRetry: false }]);
    expect(frames.at(-1)).toMatchObject({ type: "result", status: "failed" });
  });

  it("rejects a timeout that is not a positive duration with INVALID_OPTIONS", () => {
    expect(() => createDurable({ stepTimeout: 0 })).toThrow(/"timeout" must be more than 0 ms/);
    expect(() => createDurable({ stepTimeout: "soon" })).toThrow(/is not a duration/);
    expect(() => createDurable().endpoint(async () => null, { stepTimeout: -1 })).toThrow(InvalidOptionsError);
  });
});

describe("poison runs give up", () => {
  it("a step whose attempts take their process down is tried retries + 1 times (each counted at takeover, rolled back even with nothing streamed), then fails with STEP_CRASHED", async () => {
    const timers = createManualTimers();
    const memory = new MemoryRunStore();
    const attempts: number[] = [];
    const processes: FaultyStore[] = [];
    let current: FaultyStore | undefined;
    const handler: DurableHandler = async () => {
      const outcome = await step
        .run("boom", ({ attempt }) => {
          attempts.push(attempt);
          current!.kill(); // this "process" dies: its store calls never return
          return new Promise(() => {});
        })
        .catch((error: unknown) => {
          const cause = (error as { cause?: unknown }).cause;
          return DurableError.isInstance(error) && DurableError.isInstance(cause) ? `${error.code}/${cause.code}: ${cause.message}` : "other";
        });
      return Response.json({ outcome });
    };
    /** Starts a new "process" on the shared store once the previous one died. */
    const startProcess = () => {
      current = new FaultyStore(memory);
      processes.push(current);
      return setup(handler, { store: current, timers, retries: 2, leaseDuration: 2_000, pollInterval: 500 });
    };
    const first = startProcess();
    const live: Frame[] = [];
    void readInto(await first.endpoint(sseRequest()), live);
    await until(() => attempts.length === 1);
    const runId = (live[0] as { runId: string }).runId;
    // Each dead process's lease expires; the next process takes the run over and tries again.
    for (let next = 2; next <= 3; next += 1) {
      startProcess();
      await advanceUntil(timers, () => attempts.length === next, { stepSize: 500, what: `attempt ${next}` });
    }
    startProcess();
    let record = await memory.getRun(runId);
    await advanceUntil(
      timers,
      () => {
        void memory.getRun(runId).then((run) => (record = run));
        return record?.result !== undefined;
      },
      { stepSize: 500, what: "the run's result" },
    );
    expect(attempts).toEqual([1, 2, 3]);
    expect(record?.status).toBe("succeeded"); // the handler caught the StepFailedError
    expect(JSON.parse(record!.result!.body).outcome).toMatch(/^STEP_FAILED\/STEP_CRASHED: Step "boom" crashed its process/);
    expect(attempts).toEqual([1, 2, 3]); // no fourth attempt, however long the service runs
    const log = await memory.readFrames(runId, undefined, 100);
    const rolledBack = log
      .filter((entry) => entry.type === "rollback")
      .map((entry) => JSON.parse(entry.payload) as { attempt: number; willRetry: boolean; error: { name: string } });
    // One rollback per interrupted attempt; the last says the step does not run again.
    expect(rolledBack.map((frame) => [frame.attempt, frame.willRetry, frame.error.name])).toEqual([
      [1, true, "InterruptedError"],
      [2, true, "InterruptedError"],
      [3, false, "InterruptedError"],
    ]);
  });
});

describe("graceful shutdown", () => {
  /** A store that notes when it is closed. */
  class ClosableStore extends FaultyStore {
    closed = 0;
    close(): void {
      this.closed += 1;
    }
  }

  it("close() refuses new runs, lets the running step commit, redirects live connections (shutdown), releases the lease and closes the store; another instance goes on at once", async () => {
    const timers = createManualTimers();
    const memory = new MemoryRunStore();
    const storeA = new ClosableStore(memory);
    const release = gate();
    const executions: string[] = [];
    const handler: DurableHandler = async () => {
      await step.run("one", async () => {
        executions.push("one");
        stream.push("a");
        await release.promise;
      });
      await step.run("two", () => {
        executions.push("two");
        stream.push("b");
      });
      return Response.json({ ok: true });
    };
    const a = setup(handler, { store: storeA, timers });
    const live: Frame[] = [];
    const liveDone = readInto(await a.endpoint(sseRequest("http://app.test/chat", { method: "POST" })), live);
    await until(() => live.some((frame) => frame.type === "data"));
    const { runId, resumeUrl } = live[0] as { runId: string; resumeUrl: string };
    const longPoll = a.waitEndpoint(new Request(resumeUrl));

    let closed = false;
    const closing = a.durable.close({ timeout: 10_000 }).then(() => (closed = true));
    const refused = await a.endpoint(sseRequest("http://app.test/chat", { method: "POST" }));
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.headers.get("connection")).toBe("close");
    const refusedWait = await a.waitEndpoint(new Request(resumeUrl));
    expect(refusedWait.status).toBe(503);
    expect(refusedWait.headers.get("connection")).toBe("close");
    await passTime(timers, 100);
    expect(closed).toBe(false); // the step is still running

    release.open();
    await liveDone;
    await closing;
    expect(storeA.closed).toBe(1);
    expect(live.slice(-2)).toMatchObject([{ type: "commit" }, { type: "redirect", reason: "shutdown", url: resumeUrl }]);
    const polled = await longPoll;
    expect(polled.status).toBe(202);
    // The same run's URL, with a fresh token (sliding expiry) that lasts at least as long.
    const location = new URL(polled.headers.get("location")!);
    expect(`${location.origin}${location.pathname}`).toBe(resumeUrl.split("?")[0]);
    const expiryOf = (url: URL) => Number(url.searchParams.get("token")!.split(".")[0]);
    expect(expiryOf(location)).toBeGreaterThanOrEqual(expiryOf(new URL(resumeUrl)));
    const record = await memory.getRun(runId);
    // Released: the lease expired as of the release, so the run is due (and claimable) at once.
    expect(record).toMatchObject({ status: "running" });
    expect(record!.leaseExpiresAt).toBeLessThan(timers.now());

    // Another instance: the client's reconnect to its wait endpoint takes the run over at once.
    const b = setup(handler, { store: memory, timers });
    const rest: Frame[] = [];
    await readInto(await b.waitEndpoint(new Request(resumeUrl, { headers: { accept: "text/event-stream", "last-event-id": lastOffset(live)!.offset } })), rest);
    expect(executions).toEqual(["one", "two"]);
    expect(committedData([...live, ...rest])).toEqual(["a", "b"]);
    expect(rest.at(-1)).toMatchObject({ type: "result", status: "succeeded" });
    expect(rollbacks(rest)).toEqual([]);
  });

  it("a step still running at the timeout is stopped (its signal aborts with SHUTTING_DOWN) and run again by the next instance", async () => {
    const timers = createManualTimers();
    const memory = new MemoryRunStore();
    const signals: AbortSignal[] = [];
    const handler: DurableHandler = async () => {
      await step.run("stuck", ({ attempt, signal }) => {
        signals.push(signal);
        stream.push(`attempt ${attempt}`);
        return attempt === 1 ? new Promise(() => {}) : undefined;
      });
      return Response.json({ ok: true });
    };
    const a = setup(handler, { store: new ClosableStore(memory), timers });
    const live: Frame[] = [];
    const liveDone = readInto(await a.endpoint(sseRequest()), live);
    await until(() => live.some((frame) => frame.type === "data"));
    const closing = a.durable.close({ timeout: 1_000 });
    await passTime(timers, 1_000, 100);
    await closing;
    await liveDone;
    expect(DurableError.isInstance(signals[0]!.reason) && signals[0]!.reason.code).toBe("SHUTTING_DOWN");
    expect(live.at(-1)).toMatchObject({ type: "redirect", reason: "shutdown" });

    const b = setup(handler, { store: memory, timers });
    const rest: Frame[] = [];
    const { resumeUrl } = live[0] as { resumeUrl: string };
    await readInto(await b.waitEndpoint(new Request(resumeUrl, { headers: { accept: "text/event-stream", "last-event-id": lastOffset(live)!.offset } })), rest);
    expect(rollbacks(rest)).toMatchObject([{ attempt: 1, willRetry: true, error: { name: "InterruptedError" } }]);
    expect(committedData([...live, ...rest])).toEqual(["attempt 2"]);
    expect(rest.at(-1)).toMatchObject({ type: "result", status: "succeeded" });
  });

  it("a request without the SSE header that waits for its run gets a 303 to the wait endpoint at shutdown", async () => {
    const timers = createManualTimers();
    const release = gate();
    const a = setup(
      async () => {
        await step.run("slow", () => release.promise);
        return Response.json({ ok: true });
      },
      { store: new MemoryRunStore(), timers },
    );
    const pending = a.endpoint(new Request("http://app.test/chat", { method: "POST" }));
    await passTime(timers, 10);
    const closing = a.durable.close({ timeout: 5_000 });
    release.open();
    const response = await pending;
    await closing;
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toMatch(/^http:\/\/app\.test\/api\/durable\//);
  });

  it("a run being claimed when shutdown begins is handed back at once instead of executed", async () => {
    const timers = createManualTimers();
    const memory = new MemoryRunStore();
    const storeA = new FaultyStore(memory);
    const executions: number[] = [];
    const handler: DurableHandler = async () => {
      await step.run("work", ({ attempt }) => {
        executions.push(attempt);
        if (attempt === 1) storeA.kill(); // process A dies in its first attempt
        return attempt === 1 ? new Promise(() => {}) : undefined;
      });
      return Response.json({ ok: true });
    };
    const a = setup(handler, { store: storeA, timers, leaseDuration: 2_000 });
    const live: Frame[] = [];
    void readInto(await a.endpoint(sseRequest()), live);
    await until(() => executions.length === 1);
    const runId = (live[0] as { runId: string }).runId;

    const storeB = new FaultyStore(memory);
    const claiming = gate();
    let claims = 0;
    const claimRun = storeB.claimRun.bind(storeB);
    storeB.claimRun = async (...args: Parameters<typeof claimRun>) => {
      claims += 1;
      await claiming.promise;
      return claimRun(...args);
    };
    const b = setup(handler, { store: storeB, timers, leaseDuration: 2_000, pollInterval: 500 });
    await advanceUntil(timers, () => claims === 1, { stepSize: 500, what: "B claiming the dead run" });
    const closing = b.durable.close({ timeout: 1_000 });
    claiming.open();
    await closing;
    await passTime(timers, 100);
    expect(executions).toEqual([1]); // B never ran it
    const released = await memory.getRun(runId);
    expect(released).toMatchObject({ status: "running", epoch: 2 });
    expect(released!.leaseExpiresAt).toBeLessThan(timers.now());
  });

  it("close() rejects a bad timeout and is safe to call twice", async () => {
    const durable = createDurable({ store: new MemoryRunStore() });
    expect(() => durable.close({ timeout: -1 })).toThrow(/"timeout" must be milliseconds >= 0/);
    const first = durable.close({ timeout: 0 });
    expect(durable.close()).toBe(first);
    await first;
  });
});
