// Fairness of the scheduler (issue 12): runs this process cannot resume (their endpoint was removed
// or renamed) never hide the others, and they end once they have been due for `orphanGrace`.
// Time moves only through injected timers.
import { encodeFramePayload, hashStepId, type RedirectFrame, type ResultFrame } from "@durastream/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { BackgroundError } from "./background-errors.js";
import { step, stream } from "./context.js";
import { createDurable, type Durable, type DurableOptions } from "./create-durable.js";
import { DurableError } from "./errors.js";
import { MemoryRunStore } from "./store/memory-store.js";
import type { RequestSnapshot, ResumableCursor, ResumableRun, RunStore } from "./store/run-store.js";
import { collectFrames, createManualTimers, passTime, sseRequest, until, type ManualTimers } from "@durastream/testing";

const SECRET = "fairness-test-secret-0123456789";
const REQUEST: RequestSnapshot = { method: "POST", url: "http://app.test/chat", headers: [], body: null, bodyEncoding: "text" };

const opened: Durable[] = [];
afterEach(async () => {
  for (const durable of opened.splice(0)) await durable.close({ timeout: 0 });
});

function open(options: DurableOptions & { store: RunStore; timers: ManualTimers }): Durable {
  const durable = createDurable({ secret: SECRET, backoff: () => 0, maxInlineWait: 1000, ...options });
  opened.push(durable);
  return durable;
}

/** A memory store on the test's clock, which starts at 100 s. */
function setup() {
  const timers = createManualTimers();
  timers.advance(100_000);
  const store = new MemoryRunStore({ now: () => timers.now() });
  return { timers, store };
}

/** `count` runs of `endpointId` suspended until `wakeAt(index)`, as a stopped process left them. */
async function suspendedRuns(store: RunStore, count: number, prefix: string, endpointId: string, wakeAt: (index: number) => number): Promise<string[]> {
  const runIds: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const runId = `${prefix}-${String(index).padStart(4, "0")}`;
    await store.createRun({ runId, endpointId, createdAt: 0, request: REQUEST, owner: "stopped", leaseExpiresAt: 0 });
    await store.appendFrames(runId, 1, [], { suspend: { wakeAt: wakeAt(index) } });
    runIds.push(runId);
  }
  return runIds;
}

/** Records every listResumableRuns call of `store`: its limit and how many runs it returned. */
function recordPages(store: RunStore): { limit: number; listed: number }[] {
  const calls: { limit: number; listed: number }[] = [];
  const list = store.listResumableRuns.bind(store);
  store.listResumableRuns = async (now: number, limit: number, after?: ResumableCursor): Promise<ResumableRun[]> => {
    const page = await list(now, limit, after);
    calls.push({ limit, listed: page.length });
    return page;
  };
  return calls;
}

/** Waits (real time, the manual clock standing still) until `check` resolves true; at most 10 s. */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > 10_000) throw new Error(`eventually: ${what} still false after 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

async function statuses(store: RunStore, runIds: readonly string[]): Promise<Set<string | undefined>> {
  return new Set(await Promise.all(runIds.map(async (runId) => (await store.getRun(runId))?.status)));
}

describe("runs of endpoints registered nowhere never hide the others", () => {
  it("wakes a run due behind 150 due runs of a removed endpoint, within two polls of one page each", async () => {
    const { timers, store } = setup();
    const orphans = await suspendedRuns(store, 150, "orphan", "removed", (index) => 1_000 + index);
    const [wanted] = await suspendedRuns(store, 1, "wanted", "chat", () => 5_000);
    const pages = recordPages(store);
    let executions = 0;
    const durable = open({ store, timers, pollInterval: 1_000, orphanGrace: Number.POSITIVE_INFINITY });
    durable.endpoint(
      () => {
        executions += 1;
        return Response.json({ ok: true });
      },
      { id: "chat" },
    );

    // The first poll (at registration) lists 100 orphans; the next one, a poll interval later, lists
    // the rest and the run. (Before the fix every poll listed the same 100 orphans, forever.)
    await timers.untilPending(); // the first poll is done and has set the timer for the next
    expect(executions).toBe(0);
    await passTime(timers, 1_000, 1_000);
    await until(() => executions === 1, "the run of chat is resumed"); // the clock stands still
    await eventually(async () => (await store.getRun(wanted!))?.status === "succeeded", "the run's result is stored");
    expect((await store.getRun(wanted!))?.status).toBe("succeeded");
    expect(executions).toBe(1);
    expect(pages.length).toBeGreaterThan(0);
    for (const { limit, listed } of pages) expect(listed).toBeLessThanOrEqual(limit);
    expect(Math.max(...pages.map(({ limit }) => limit))).toBeLessThanOrEqual(100);
    // orphanGrace: Infinity: the orphans wait, untouched.
    expect(await statuses(store, orphans)).toEqual(new Set(["suspended"]));
  });

  it("wakes a run at its wake time while the round over 250 due orphans is still under way", async () => {
    const { timers, store } = setup();
    await suspendedRuns(store, 250, "orphan", "removed", (index) => 1_000 + index);
    let woke: number | undefined;
    // One poll a minute: only the timer at the wake time can wake the run on time.
    const durable = open({ store, timers, pollInterval: 60_000, orphanGrace: Number.POSITIVE_INFINITY });
    const endpoint = durable.endpoint(
      async () => {
        await step.sleep("nap", "10s");
        woke = timers.now();
        return Response.json({ ok: true });
      },
      { id: "chat" },
    );
    await timers.untilPending(); // the first poll is done (the first page of orphans): its timer is set
    const started = timers.now();
    const response = await endpoint(new Request("http://app.test/chat", { method: "POST" }));
    expect(response.status).toBe(303); // suspended for 10 s
    // The poll at the wake time finds the run (the next poll of the round would be a minute later).
    await passTime(timers, 10_000, 1_000);
    await until(() => woke !== undefined, "the run wakes"); // the clock stands still
    expect(woke).toBe(started + 10_000);
  });

  it("resumes a run another instance released at shutdown at its next poll, while its round is deep in 1,000 orphans", async () => {
    const { timers, store } = setup();
    await suspendedRuns(store, 1_000, "orphan", "removed", (index) => 1_000 + index);
    let entered: () => void = () => {};
    const inStep = new Promise<void>((resolve) => (entered = resolve));
    const executions: string[] = [];
    const handler = async () => {
      await step.run("work", async ({ signal }) => {
        executions.push(`attempt on ${executions.length === 0 ? "A" : "B"}`);
        if (executions.length === 1) {
          entered();
          // A's attempt runs until the shutdown stops it.
          await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
        }
      });
      return Response.json({ ok: true });
    };
    const b = open({ store, timers, pollInterval: 1_000, orphanGrace: Number.POSITIVE_INFINITY });
    b.endpoint(handler, { id: "chat" });
    await timers.untilPending(); // B's first poll: the first page of its round over the orphans
    const a = open({ store, timers, pollInterval: 1_000, orphanGrace: Number.POSITIVE_INFINITY });
    const started = a.endpoint(handler, { id: "chat" })(sseRequest());
    await inStep;
    // A shuts down: it stops the attempt and releases the run's lease (its live stream gets a
    // redirect; the grace for live streams runs on the manual clock).
    const closing = a.close({ timeout: 0 });
    void started.then((response) => collectFrames(response)).catch(() => {});
    // Released as due now, the run is among the runs that B's next poll finds newly due; released
    // as due at 0 (before the fix), it waited until B's round over the orphans came round again
    // (nine more polls).
    await passTime(timers, 2_000, 500);
    await closing;
    await until(() => executions.length === 2, "B resumes the released run");
    expect(executions).toEqual(["attempt on A", "attempt on B"]);
  });

  it("leaves a due run whose endpoint another instance has to that instance (rolling deploy), and ends nothing", async () => {
    const { timers, store } = setup();
    const [run] = await suspendedRuns(store, 1, "v2", "chat-v2", () => 1_000);
    const reports: BackgroundError[] = [];
    // The old instance lacks chat-v2, the new one has it; both poll.
    const old = open({ store, timers, pollInterval: 1_000, onError: (report) => reports.push(report) });
    old.endpoint(() => Response.json("v1"), { id: "chat-v1" });
    await passTime(timers, 5_000);
    expect((await store.getRun(run!))?.status).toBe("suspended");
    const fresh = open({ store, timers, pollInterval: 1_000, onError: (report) => reports.push(report) });
    fresh.endpoint(() => Response.json("v2"), { id: "chat-v2" });
    await passTime(timers, 1_000);
    expect((await store.getRun(run!))?.result?.body).toBe('"v2"');
    await passTime(timers, 2 * 3_600_000, 60_000); // past the grace
    expect(reports).toEqual([]);
  });
});

describe("orphaned runs end after orphanGrace", () => {
  it("fails a run of a removed endpoint once it has been due for orphanGrace, with UNKNOWN_ENDPOINT visible on the wait endpoint", async () => {
    const { timers, store } = setup();
    // The old deployment had the endpoint "old-chat"; its run suspends for a minute.
    const before = open({ store, timers });
    const oldEndpoint = before.endpoint(
      async () => {
        stream.push("hello");
        await step.sleep("nap", "1m");
        return Response.json("never");
      },
      { id: "old-chat" },
    );
    const live = await collectFrames(await oldEndpoint(sseRequest("http://app.test/old")));
    const redirect = live.at(-1) as RedirectFrame;
    expect(redirect).toMatchObject({ type: "redirect", reason: "sleep" });
    const runId = (live[0] as { runId: string }).runId;
    await before.close({ timeout: 0 });

    // The new deployment does not have it.
    const reports: BackgroundError[] = [];
    const after = open({ store, timers, pollInterval: 5_000, orphanGrace: "10m", onError: (report) => reports.push(report) });
    after.endpoint(() => Response.json("new"), { id: "chat" });
    const proxy = after.waitEndpoint();

    // Due after 1 min; within the grace it waits (an instance with the endpoint could still come).
    await passTime(timers, 60_000 + 10 * 60_000 - 5_000, 5_000);
    expect((await store.getRun(runId))?.status).toBe("suspended");
    expect(reports).toEqual([]);

    await passTime(timers, 5_000, 5_000);
    await until(() => reports.length > 0, "the orphan is ended"); // the clock stands still
    await eventually(async () => (await store.getRun(runId))?.status === "failed", "its result is stored");
    const record = await store.getRun(runId);
    expect(record?.status).toBe("failed");
    expect(reports).toHaveLength(1);
    const [{ error, phase, runId: reported }] = reports as [BackgroundError];
    expect(phase).toBe("resume");
    expect(reported).toBe(runId);
    expect(DurableError.isInstance(error) && error.code).toBe("UNKNOWN_ENDPOINT");
    const message = (error as Error).message;
    expect(message).toContain('no endpoint with id "old-chat" is registered');
    expect(message).toContain('durable.endpoint(handler, { id: "old-chat" })');
    expect(message).toContain("10 min (orphanGrace)");

    // A client that follows the redirect reads the end of the run from the new deployment.
    const frames = await collectFrames(await proxy(new Request(redirect.url, { headers: { accept: "text/event-stream" } })));
    const result = frames.at(-1) as ResultFrame;
    expect(result).toMatchObject({ type: "result", status: "failed", response: { status: 500 } });
    expect(result.response.body).toBe(message);
    expect(frames.filter((frame) => frame.type === "data").map((frame) => (frame as { data: unknown }).data)).toEqual(["hello"]);
    // Without the SSE header: the stored response, exactly.
    const plain = await proxy(new Request(redirect.url));
    expect(plain.status).toBe(500);
    expect(await plain.text()).toBe(message);
  });

  it("rolls back the interrupted step of an orphan left running by a crashed process, then fails it", async () => {
    const { timers, store } = setup();
    const hashed = await hashStepId("write");
    await store.createRun({ runId: "crashed", endpointId: "gone", createdAt: 0, request: REQUEST, owner: "dead", leaseExpiresAt: 50_000 });
    await store.appendFrames("crashed", 1, [{ type: "data", payload: encodeFramePayload({ type: "data", hashedStepId: hashed, data: "partial" }) }], {
      step: { hashedStepId: hashed, stepId: "write", position: 0, kind: "run", status: "running", attempts: 1, retries: 3 },
    });
    const reports: BackgroundError[] = [];
    const durable = open({ store, timers, pollInterval: 1_000, orphanGrace: 60_000, onError: (report) => reports.push(report) });
    durable.endpoint(() => Response.json("other"), { id: "chat" });

    // The lease expired at 50 s; the process started at 100 s: the grace counts from its start, so
    // a process that just came up does not end runs whose endpoint it may be about to register.
    await passTime(timers, 59_000, 1_000);
    expect((await store.getRun("crashed"))?.status).toBe("running");
    expect(reports).toEqual([]);
    await passTime(timers, 1_000, 1_000);
    await until(() => reports.length > 0, "the orphan is ended"); // the clock stands still
    await eventually(async () => (await store.getRun("crashed"))?.status === "failed", "its result is stored");
    const log = await store.readFrames("crashed", undefined, 100);
    expect(log.map((entry) => entry.type)).toEqual(["data", "rollback", "result"]);
    // Retries are left (1 of 3), but the run ends here: the rollback does not promise another attempt.
    expect(JSON.parse(log[1]!.payload)).toMatchObject({ step: hashed, attempt: 1, willRetry: false, error: { name: "InterruptedError" } });
    expect(JSON.parse(log[1]!.payload).error.message).not.toContain("It runs again");
    expect(log[2]!.offset.startsWith("2-")).toBe(true); // written in the claim's epoch
    expect(await store.getRun("crashed")).toMatchObject({ status: "failed", result: { status: 500 } });
    expect(DurableError.isInstance(reports[0]!.error) && reports[0]!.error.code).toBe("UNKNOWN_ENDPOINT");
  });

  it("ends every orphan past the grace, a page per poll, and keeps waking registered runs meanwhile", async () => {
    const { timers, store } = setup();
    const orphans = await suspendedRuns(store, 230, "orphan", "removed", (index) => 1_000 + index);
    const [wanted] = await suspendedRuns(store, 1, "wanted", "chat", () => 2_000);
    const pages = recordPages(store);
    const durable = open({ store, timers, pollInterval: 1_000, orphanGrace: 30_000, onError: () => {} });
    durable.endpoint(() => Response.json("ok"), { id: "chat" });
    // Due since ~1 s; the process starts polling at 100 s: from 130 s on, each poll ends its page's orphans.
    await passTime(timers, 29_000, 1_000);
    await eventually(async () => (await store.getRun(wanted!))?.status === "succeeded", "the run of chat finishes");
    expect(await statuses(store, orphans)).toEqual(new Set(["suspended"]));
    await passTime(timers, 4_000, 1_000);
    // Every orphan was claimed by one of the polls at 130, 131 and 132 s; their results follow.
    expect([...(await statuses(store, orphans))].every((status) => status === "running" || status === "failed")).toBe(true);
    await eventually(async () => (await statuses(store, orphans)).size === 1, "every orphan's result is stored");
    expect(await statuses(store, orphans)).toEqual(new Set(["failed"]));
    for (const { limit, listed } of pages) expect(listed).toBeLessThanOrEqual(limit);
  });

  it("takes orphanGrace as milliseconds, a duration or Infinity, and refuses anything else", () => {
    const { timers, store } = setup();
    for (const orphanGrace of [0, 90_000, "30m", "1h30m", Number.POSITIVE_INFINITY]) expect(() => open({ store, timers, orphanGrace })).not.toThrow();
    for (const orphanGrace of [-1, Number.NaN, "soon", "10 parsecs"]) {
      expect(() => open({ store, timers, orphanGrace })).toThrow(/orphanGrace/);
    }
  });
});
