// Issue 12, "Resume cost": a takeover reads only the log after the run's quiet point (not the whole
// log), `durable.send` does not wait for the runs it wakes, and the wait endpoint's long-poll reads
// the run without its request. Time moves only through injected timers.
import { RUN_ID_HEADER, type Frame } from "@durastream/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { BackgroundError } from "./background-errors.js";
import { step, stream } from "./context.js";
import { createDurable, type Durable, type DurableOptions } from "./create-durable.js";
import type { DurableHandler } from "./run-types.js";
import { MemoryRunStore } from "./store/memory-store.js";
import type { FrameToAppend, RunRecord, RunStore } from "./store/run-store.js";
import { advanceUntil, committedData, createManualTimers, FaultyStore, passTime, sseRequest, until, type ManualTimers } from "@durastream/testing";

const opened: Durable[] = [];
afterEach(() => {
  // Not awaited: a "process" that died (a killed FaultyStore) never finishes closing.
  for (const durable of opened.splice(0)) void durable.close({ timeout: 0 });
});

function setup(handler: DurableHandler, options: DurableOptions & { timers: ManualTimers; store: RunStore }) {
  const errors: BackgroundError[] = [];
  const durable = createDurable({ backoff: () => 0, maxInlineWait: 1000, pollInterval: 60_000, onError: (report) => errors.push(report), ...options });
  opened.push(durable);
  return { durable, endpoint: durable.endpoint(handler, { id: "resume-cost" }), waitEndpoint: durable.waitEndpoint(), errors };
}

/** Counts the frames `readFrames` returns, and where each read started. */
function countReads(store: RunStore) {
  const counts = { frames: 0, reads: [] as { after: string | undefined; returned: number }[] };
  const read = store.readFrames.bind(store);
  store.readFrames = async (runId, after, limit, maxBytes) => {
    const entries = await read(runId, after, limit, maxBytes);
    counts.frames += entries.length;
    counts.reads.push({ after, returned: entries.length });
    return entries;
  };
  return counts;
}

/** A promise with its resolver. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

async function post(endpoint: (request: Request) => Promise<Response>): Promise<string> {
  const response = await endpoint(new Request("http://app.test/work", { method: "POST" }));
  expect(response.status).toBe(303);
  return response.headers.get(RUN_ID_HEADER)!;
}

async function untilOver(store: RunStore, runId: string, timers: ManualTimers): Promise<RunRecord> {
  let record: RunRecord | undefined;
  await advanceUntil(
    timers,
    () => {
      void store.getRun(runId).then((run) => (record = run));
      return record?.result !== undefined;
    },
    { stepSize: 500, what: "the run's result", ioWait: 0, maxAdvance: 3 * 3_600_000 },
  );
  return record!;
}

const hasOutsideCommit = (_runId: string, _epoch: number, frames: readonly FrameToAppend[]) =>
  frames.some((frame) => frame.type === "commit" && frame.payload === '{"step":null}');

describe("a takeover reads the log from the run's quiet point", () => {
  it("a run resumed after a suspension reads none of the frames before it (3,000 chunks streamed)", async () => {
    const timers = createManualTimers();
    const store = new MemoryRunStore({ now: () => timers.now() });
    const { endpoint } = setup(
      async () => {
        await step.run("big", () => {
          for (let index = 0; index < 3000; index += 1) stream.push(index);
        });
        stream.push("outside");
        await step.sleep("nap", "1h");
        await step.run("after", () => stream.push("after"));
        return "done";
      },
      { store, timers },
    );
    const runId = await post(endpoint);
    const suspended = (await store.getRun(runId))!;
    // big's chunks and commit, the outside chunk and its commit: all closed, so the suspension moved the quiet point.
    expect(suspended.quiet).toEqual({ offset: `1-${suspended.frameCount}`, rollbacks: [] });
    const counts = countReads(store);
    const record = await untilOver(store, runId, timers);
    expect(record.status).toBe("succeeded");
    // One read, from the quiet point, which found nothing to look at.
    expect(counts.reads).toEqual([{ after: suspended.quiet!.offset, returned: 0 }]);
  });

  it("a crash takeover reads only what the interrupted execution wrote, and rolls it back as before", async () => {
    const timers = createManualTimers();
    const memory = new MemoryRunStore({ now: () => timers.now() });
    const processes: FaultyStore[] = [];
    const afterAttempts: number[] = [];
    let died = false;
    const handler: DurableHandler = async () => {
      await step.run("big", () => {
        for (let index = 0; index < 3000; index += 1) stream.push(index);
      });
      await step.sleep("nap", "1h");
      await step.run("after", async ({ attempt }) => {
        afterAttempts.push(attempt);
        for (let index = 0; index < 10; index += 1) stream.push(`after-${attempt}-${index}`);
        if (attempt === 1) {
          const self = processes.at(-1)!;
          await new Promise((resolve) => setImmediate(resolve)); // the chunks reach the store
          self.kill(); // then this process dies mid-step
          died = true;
          return new Promise(() => {});
        }
        return attempt;
      });
      return "done";
    };
    const start = () => {
      const store = new FaultyStore(memory);
      processes.push(store);
      return setup(handler, { store, timers, leaseDuration: 2_000, pollInterval: 500 });
    };
    const runId = await post(start().endpoint);
    const suspendedAt = (await memory.getRun(runId))!.quiet!.offset;
    timers.advance(3_600_000); // the nap is over
    await advanceUntil(timers, () => died, { stepSize: 100, what: "the first attempt of after", ioWait: 0 });
    expect((await memory.getRun(runId))!.frameCount).toBe(3011); // big's 3,000 chunks and commit, after's 10
    const counts = countReads(memory);
    start();
    const record = await untilOver(memory, runId, timers);
    expect(record.status).toBe("succeeded");
    expect(afterAttempts).toEqual([1, 2]);
    // The takeover's scan: from the quiet point of the suspension, the 10 chunks of the interrupted attempt.
    expect(counts.reads[0]).toEqual({ after: suspendedAt, returned: 10 });
    expect(counts.frames).toBe(10);
    const log = await memory.readFrames(runId, undefined, 10_000);
    const rollbacks = log.filter((entry) => entry.type === "rollback");
    expect(
      rollbacks.map((entry) => JSON.parse(entry.payload) as { attempt: number; willRetry: boolean }).map(({ attempt, willRetry }) => [attempt, willRetry]),
    ).toEqual([[1, true]]);
    // Nothing was open once the takeover's rollback was written (epoch 3): it recorded a quiet point
    // there, with the attempt it rolled back (the journal still says "running" until it runs again).
    expect(rollbacks[0]!.offset.startsWith("3-")).toBe(true);
    expect(record.quiet).toEqual({ offset: rollbacks[0]!.offset, rollbacks: [{ hashedStepId: expect.any(String), attempt: 1 }] });
  });

  it("a takeover after a takeover that stopped before the step ran again does not roll the attempt back twice (the quiet point's marks)", async () => {
    const timers = createManualTimers();
    const memory = new MemoryRunStore({ now: () => timers.now() });
    const processes: FaultyStore[] = [];
    const attempts: number[] = [];
    let executions = 0;
    let runId = "";
    const handler: DurableHandler = async (_request, context) => {
      runId = context.runId;
      executions += 1;
      // The second execution (the first takeover) dies before the step starts again.
      if (executions === 2) {
        processes.at(-1)!.kill();
        return new Promise(() => {});
      }
      const value = await step.run("boom", ({ attempt }) => {
        attempts.push(attempt);
        if (attempt === 1) {
          processes.at(-1)!.kill(); // dies in its first attempt, having streamed nothing
          return new Promise(() => {});
        }
        return attempt;
      });
      return Response.json({ value });
    };
    const start = () => {
      const store = new FaultyStore(memory);
      processes.push(store);
      return setup(handler, { store, timers, leaseDuration: 2_000, pollInterval: 500, retries: 3 });
    };
    void start().endpoint(new Request("http://app.test/work", { method: "POST" }));
    await until(() => attempts.length === 1, "the first attempt");
    start();
    await advanceUntil(timers, () => executions === 2, { stepSize: 500, what: "the first takeover", ioWait: 0 });
    // The first takeover rolled attempt 1 back, recording the attempt in its quiet point's marks.
    const afterFirst = (await memory.getRun(runId))!;
    expect(afterFirst.quiet?.rollbacks).toEqual([{ hashedStepId: expect.any(String), attempt: 1 }]);
    const counts = countReads(memory);
    start();
    const record = await untilOver(memory, runId, timers);
    expect(JSON.parse(record.result!.body)).toEqual({ value: 2 });
    expect(attempts).toEqual([1, 2]);
    // The second takeover read nothing (nothing was written after the first one's rollback) and,
    // with the marks, knew that attempt 1 was rolled back already: one rollback frame, as a scan
    // of the whole log finds.
    expect(counts.reads[0]).toEqual({ after: afterFirst.quiet!.offset, returned: 0 });
    const log = await memory.readFrames(runId, undefined, 100);
    expect(log.filter((entry) => entry.type === "rollback").map((entry) => (JSON.parse(entry.payload) as { attempt: number }).attempt)).toEqual([1]);
  });

  it("a suspension while outside-step chunks are uncommitted (their commit failed) leaves the quiet point: the resume still rolls them back", async () => {
    const timers = createManualTimers();
    const memory = new MemoryRunStore({ now: () => timers.now() });
    const store = new FaultyStore(memory);
    const { endpoint } = setup(
      async () => {
        await step.sleep("first", "1h");
        stream.push("outside");
        // Entering the step commits "outside": that write fails (below), so the chunk stays open.
        await step.run("s", () => stream.push("in-step"));
        await step.sleep("second", "1h");
        return "done";
      },
      { store, timers },
    );
    const runId = await post(endpoint);
    const firstQuiet = (await memory.getRun(runId))!.quiet!;
    store.failNext("appendFrames", 1, hasOutsideCommit);
    timers.advance(3_600_000); // the first sleep is over
    await untilRecord(memory, runId, timers, (run) => run.status === "suspended" && run.epoch === 2, "the second suspension");
    // The outside chunk is pending: the second suspension did not move the quiet point.
    expect((await memory.getRun(runId))!.quiet).toEqual(firstQuiet);
    const record = await untilOver(memory, runId, timers);
    expect(record.status).toBe("succeeded");
    const log = await memory.readFrames(runId, undefined, 100);
    expect(
      log.filter((entry) => entry.type === "rollback").map((entry) => JSON.parse(entry.payload) as { step: string | null; attempt: number }),
    ).toMatchObject([{ step: null, attempt: 1 }]);
    // The chunk once, from the execution that committed it (without the rollback: twice).
    expect(committedOf(log)).toEqual(["in-step", "outside"]);
  });
});

/** Moves the clock until the run's record satisfies `predicate`. */
async function untilRecord(store: RunStore, runId: string, timers: ManualTimers, predicate: (run: RunRecord) => boolean, what: string): Promise<RunRecord> {
  let record: RunRecord | undefined;
  await advanceUntil(
    timers,
    () => {
      void store.getRun(runId).then((run) => (record = run));
      return record !== undefined && predicate(record);
    },
    { stepSize: 100, what, ioWait: 0 },
  );
  return record!;
}

/** The committed view of a stored log (see `committedData`). */
function committedOf(log: readonly { type: string; payload: string }[]): unknown[] {
  return committedData(
    log.map((entry) => {
      const payload = JSON.parse(entry.payload) as { step: string | null; data?: unknown };
      return { type: entry.type, hashedStepId: payload.step, data: payload.data } as unknown as Frame;
    }),
  );
}

describe("durable.send resolves once the event is stored", () => {
  function slowClaims(store: RunStore) {
    const claims = { calls: 0, block: false, fail: false, release: gate() };
    const claim = store.claimRun.bind(store);
    store.claimRun = async (...args) => {
      claims.calls += 1;
      if (claims.block) await claims.release.promise;
      if (claims.fail) throw new Error("claimRun failed");
      return claim(...args);
    };
    return claims;
  }

  const waitForGo: DurableHandler = async () => Response.json(await step.waitForEvent("go", { event: "go", timeout: "1d" }));

  it("does not wait for the resume of the run it woke (a claim that hangs), which goes on in the background", async () => {
    const timers = createManualTimers();
    const memory = new MemoryRunStore({ now: () => timers.now() });
    const claims = slowClaims(memory);
    const background: Promise<unknown>[] = [];
    const { durable, endpoint, errors } = setup(waitForGo, { store: memory, timers, waitUntil: (promise) => background.push(promise) });
    const runId = await post(endpoint);
    claims.block = true;
    const handedOver = background.length;
    expect(await durable.send({ name: "go", data: 42 })).toEqual({ woken: 1 });
    await until(() => claims.calls === 1, "the resume's claim");
    expect((await memory.getRun(runId))!.status).toBe("suspended");
    // The resumes are handed to waitUntil, so a serverless host keeps them alive.
    expect(background).toHaveLength(handedOver + 1);
    claims.release.open();
    await background[handedOver];
    await until(() => resultOf(memory, runId) !== undefined, "the run's result");
    expect(JSON.parse(resultOf(memory, runId)!)).toEqual({ name: "go", data: 42 });
    expect(errors).toEqual([]);
  });

  it("resolves with the count of woken runs when their resumes fail; the failures go to onError", async () => {
    const timers = createManualTimers();
    const memory = new MemoryRunStore({ now: () => timers.now() });
    const claims = slowClaims(memory);
    const { durable, endpoint, errors } = setup(waitForGo, { store: memory, timers });
    const runIds = [await post(endpoint), await post(endpoint)];
    claims.fail = true;
    expect(await durable.send({ name: "go", data: 1 })).toEqual({ woken: 2 });
    await until(() => errors.length === 2, "two reports");
    expect(errors.map(({ phase, runId }) => [phase, runId]).sort()).toEqual(runIds.map((runId) => ["resume", runId]).sort());
    // The events are stored: once the store takes claims again, a poll resumes the runs.
    claims.fail = false;
    await passTime(timers, 60_000, 60_000);
    await until(() => runIds.every((runId) => resultOf(memory, runId) !== undefined), "both results");
    expect(await durable.send({ name: "nobody-waits" })).toEqual({ woken: 0 });
  });
});

/**
 * The stored result body of a run as last seen (undefined until it is over), for `until`: each call
 * starts a read whose answer the next call returns.
 */
function resultOf(store: RunStore, runId: string): string | undefined {
  void store.getRun(runId).then((run) => {
    if (run?.result !== undefined) results.set(runId, run.result.body);
  });
  return results.get(runId);
}
const results = new Map<string, string>();

describe("the wait endpoint's long-poll reads the run without its request", () => {
  it("reads getRunSummary (never getRun) on each append, at most one read in flight, and answers with the result", async () => {
    const timers = createManualTimers();
    const memory = new MemoryRunStore({ now: () => timers.now() });
    const started = gate();
    const calls = { getRun: 0, getRunSummary: 0, inFlight: 0, maxInFlight: 0, slow: null as ReturnType<typeof gate> | null };
    const getRun = memory.getRun.bind(memory);
    const getRunSummary = memory.getRunSummary.bind(memory);
    memory.getRun = (runId) => {
      calls.getRun += 1;
      return getRun(runId);
    };
    memory.getRunSummary = async (runId) => {
      calls.getRunSummary += 1;
      calls.inFlight += 1;
      calls.maxInFlight = Math.max(calls.maxInFlight, calls.inFlight);
      try {
        if (calls.slow !== null) await calls.slow.promise;
        return await getRunSummary(runId);
      } finally {
        calls.inFlight -= 1;
      }
    };
    // The long-poll's first read after it subscribes hangs while every chunk is appended.
    let polling = false;
    const subscribe = memory.subscribe.bind(memory);
    memory.subscribe = (runId, listener) => {
      if (polling) calls.slow ??= gate();
      return subscribe(runId, listener);
    };
    const { endpoint, waitEndpoint } = setup(
      async (request) => {
        await request.text();
        await started.promise;
        for (let index = 0; index < 20; index += 1) {
          stream.push(index);
          await new Promise((resolve) => setImmediate(resolve)); // one append each
        }
        return new Response("done");
      },
      { store: memory, timers },
    );
    const live = await endpoint(sseRequest("http://app.test/work", { method: "POST", body: "x".repeat(100_000) }));
    const reader = live.body!.getReader();
    let text = "";
    while (!text.includes("resumeUrl")) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    const resumeUrl = /"resumeUrl":"([^"]+)"/.exec(text)![1]!;
    polling = true;
    const answer = waitEndpoint(new Request(resumeUrl));
    await until(() => calls.slow !== null && calls.inFlight === 1, "the long-poll's first read");
    const before = { ...calls };
    started.open();
    const runId = new URL(resumeUrl).pathname.split("/").at(-1)!;
    let over = false;
    await until(() => {
      void getRun(runId).then((run) => (over = run?.result !== undefined)); // not counted
      return over;
    }, "the result");
    calls.slow!.open();
    const response = await answer;
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("done");
    // 20 appends and the result: the reads that came in while one was in flight were one more read.
    expect(calls.maxInFlight).toBe(1);
    expect(calls.getRunSummary - before.getRunSummary).toBeLessThanOrEqual(3);
    expect(calls.getRun).toBe(before.getRun);
  });
});
