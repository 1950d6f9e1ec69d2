import type { LogFrameType, ResponseSnapshot } from "@durastream/protocol";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DurableError, StoreRefusedError } from "../errors.js";
import type {
  FrameToAppend,
  LogEntry,
  NewRun,
  RequestSnapshot,
  ResumableCursor,
  ResumableRun,
  RunRecord,
  RunStore,
  StepRecord,
  StoreErrorReason,
} from "./run-store.js";

/**
 * What the conformance suite gives a store factory for each test.
 *
 * @example
 * ```ts
 * const factory: RunStoreFactory = async ({ retention, now }) => ({ store: new MemoryRunStore({ retention, now }), close: async () => {} });
 * ```
 */
export interface RunStoreConformanceContext {
  /** How long finished runs must be kept, in milliseconds: pass it to the store. */
  readonly retention: number;
  /** The test's clock, epoch-milliseconds; the store must read time from it (the tests move it). */
  readonly now: () => number;
}

/**
 * A store made for one test, and how to dispose of it after the test (close connections, delete files).
 *
 * @example
 * ```ts
 * const underTest: RunStoreUnderTest = { store, close: async () => { store.close(); rmSync(directory, { recursive: true }); } };
 * ```
 */
export interface RunStoreUnderTest {
  readonly store: RunStore;
  readonly close: () => Promise<void>;
}

/**
 * Makes a fresh, empty store for one test, reading time from `now` and keeping finished runs for `retention`.
 *
 * @example
 * ```ts
 * const factory: RunStoreFactory = async ({ retention, now }) => {
 *   const store = new SqliteRunStore({ path: join(mkdtempSync(join(tmpdir(), "runs-")), "runs.db"), retention, now });
 *   return { store, close: async () => store.close() };
 * };
 * ```
 */
export type RunStoreFactory = (context: RunStoreConformanceContext) => Promise<RunStoreUnderTest>;

const RETENTION = 60_000;
const START = 1_700_000_000_000;
const LEASE = 30_000;
const SETTLE_MILLISECONDS = 50;

/**
 * Registers the `RunStore` conformance suite (a vitest `describe` block named after `name`): every
 * guarantee of the `RunStore` interface, checked against stores made by `factory`, one fresh store
 * per test. Each test passes the store a clock it moves itself (`now`) and a `retention`, so the
 * store must read time from `now` (it decides when a finished run expires) and never from the wall
 * clock.
 *
 * Beyond the interface's text, the suite pins down these choices, which every store must share:
 * - a run is "over" when it `succeeded` or `failed`; its `finish` time is the store's `now()` when the
 *   finishing `appendFrames` ran; it is kept while `now() < finish + retention` and is unknown from
 *   `finish + retention` on; running and suspended runs never expire;
 * - for an unknown (or expired) run, `getRun` resolves undefined, `listSteps` resolves `[]`,
 *   `claimRun` undefined, `renewLease` false, `deliverEvent` skips it, and `appendFrames` and
 *   `readFrames` reject with a `StoreRefusedError` of reason `unknown-run`;
 * - a lease holds while `now <= leaseExpiresAt` (claimable from `leaseExpiresAt + 1`); a suspended run
 *   is due when `wakeAt <= now`; an event wait accepts events while `now < deadline` (at the deadline
 *   its timeout is due, so the event comes too late);
 * - `deliverEvent` lists each woken run once, even when several of its steps received the event, and
 *   an event without `data` is recorded as `{ "name": …, "data": null }`;
 * - log entries are compared on `offset`, `type` and `payload` only (a store may add fields);
 * - `subscribe` listeners may be called synchronously or later, but a `readFrames` started inside a
 *   listener already returns the frames whose append caused the call.
 *
 * @example
 * ```ts
 * // my-store.conformance.test.ts
 * import { defineRunStoreConformance } from "@durastream/server/testing";
 * import { MyRunStore } from "./my-store.js";
 *
 * defineRunStoreConformance("MyRunStore", async ({ retention, now }) => {
 *   const store = await MyRunStore.open({ url: process.env.TEST_URL, retention, now });
 *   return { store, close: () => store.close() };
 * });
 * ```
 */
export function defineRunStoreConformance(name: string, factory: RunStoreFactory): void {
  describe(`RunStore conformance: ${name}`, () => {
    let clock = START;
    let store: RunStore;
    let close: (() => Promise<void>) | undefined;
    let runCounter = 0;

    beforeEach(async () => {
      clock = START;
      close = undefined;
      const made = await factory({ retention: RETENTION, now: () => clock });
      store = made.store;
      close = made.close;
    });

    afterEach(async () => {
      await close?.();
    });

    /** Creates a run at the current clock, owned by "owner-1" with a lease of LEASE ms. */
    async function createRun(overrides: Partial<NewRun> = {}): Promise<RunRecord> {
      runCounter += 1;
      return store.createRun({
        runId: `run-${String(runCounter).padStart(4, "0")}-${Math.random().toString(36).slice(2, 8)}`,
        endpointId: "POST /api/chat",
        createdAt: clock,
        request: textRequest,
        owner: "owner-1",
        leaseExpiresAt: clock + LEASE,
        ...overrides,
      });
    }

    /** Everything observable about a run, to compare before and after a refused write. */
    async function observe(runId: string) {
      return {
        record: await store.getRun(runId),
        steps: await store.listSteps(runId),
        frames: await store.readFrames(runId, undefined, 10_000),
      };
    }

    /** A run suspended (in epoch 1, after `frameCount` frames) until `wakeAt`. */
    async function suspendedRun(wakeAt: number, frameCount = 0): Promise<RunRecord> {
      const run = await createRun();
      await store.appendFrames(run.runId, 1, dataFrames(frameCount), { suspend: { wakeAt } });
      return (await store.getRun(run.runId))!;
    }

    /** A suspended run whose step at position 0 waits for `event` until `deadline` (when given). */
    async function waitingRun(event: string, match: Record<string, unknown> | undefined, deadline: number | undefined) {
      const run = await createRun();
      const step = waitingStep(event, match, deadline);
      await store.appendFrames(run.runId, 1, [], { step, suspend: { wakeAt: deadline ?? clock + 86_400_000 } });
      return { runId: run.runId, step };
    }

    describe("createRun and getRun", () => {
      it("creates a running run in epoch 1 and reads every field back", async () => {
        const created = await store.createRun({
          runId: "run-fields",
          endpointId: "POST /api/upload",
          createdAt: clock,
          request: base64Request,
          owner: "owner-a",
          leaseExpiresAt: clock + 12_345,
        });
        const read = await store.getRun("run-fields");
        for (const record of [created, read]) {
          expect(record).toBeDefined();
          expect(record!.runId).toBe("run-fields");
          expect(record!.endpointId).toBe("POST /api/upload");
          expect(record!.status).toBe("running");
          expect(record!.epoch).toBe(1);
          expect(record!.owner).toBe("owner-a");
          expect(record!.leaseExpiresAt).toBe(clock + 12_345);
          expect(record!.wakeAt).toBeNull();
          expect(record!.outsideCommitted).toBe(0);
          expect(record!.frameCount).toBe(0);
          expect(record!.logBytes).toBe(0);
          expect(record!.createdAt).toBe(clock);
          expect(record!.updatedAt).toBe(clock);
          expect(record!.result).toBeUndefined();
          expect(record!.request).toEqual(base64Request);
          expect(record!.request.headers.map(([header]) => header)).toEqual(["x-zeta", "content-type", "x-alpha", "x-zeta"]);
        }
        expect(await store.listSteps("run-fields")).toEqual([]);
        expect(await store.readFrames("run-fields", undefined, 10)).toEqual([]);
      });

      it("keeps request snapshots exactly: a unicode text body, a null body, no headers", async () => {
        const text = await createRun({ request: textRequest });
        const empty = await createRun({ request: emptyRequest });
        expect((await store.getRun(text.runId))!.request).toEqual(textRequest);
        expect((await store.getRun(empty.runId))!.request).toEqual(emptyRequest);
        expect((await store.getRun(empty.runId))!.request.body).toBeNull();
      });

      it("keeps runs apart", async () => {
        const first = await createRun({ endpointId: "GET /a" });
        const second = await createRun({ endpointId: "GET /b", owner: "owner-2" });
        await store.appendFrames(first.runId, 1, dataFrames(3));
        expect((await store.getRun(second.runId))!).toMatchObject({ endpointId: "GET /b", owner: "owner-2", frameCount: 0 });
        expect(await store.readFrames(second.runId, undefined, 10)).toEqual([]);
        expect((await store.getRun(first.runId))!.frameCount).toBe(3);
      });

      it("rejects a second run with the same id and leaves the first untouched", async () => {
        const run = await createRun({ runId: "run-twice" });
        await store.appendFrames(run.runId, 1, dataFrames(1));
        const outcome = await store.createRun({ ...newRunOf(run), owner: "owner-2" }).then(
          () => "resolved",
          (error: unknown) => error,
        );
        expect(DurableError.isInstance(outcome), "createRun with a used id must reject with a DurableError").toBe(true);
        expect(await store.getRun(run.runId)).toMatchObject({ owner: "owner-1", frameCount: 1, epoch: 1 });
      });

      it("resolves undefined for an unknown run", async () => {
        expect(await store.getRun("no-such-run")).toBeUndefined();
      });
    });

    describe("appendFrames", () => {
      it("gives offsets 1-1, 1-2, … and resolves with the last one (\"\" for no frames)", async () => {
        const run = await createRun();
        expect(await store.appendFrames(run.runId, 1, dataFrames(1, "a"))).toBe("1-1");
        expect(await store.appendFrames(run.runId, 1, dataFrames(3, "b"))).toBe("1-4");
        expect(await store.appendFrames(run.runId, 1, [])).toBe("");
        expect(await store.appendFrames(run.runId, 1, dataFrames(1, "c"))).toBe("1-5");
        const entries = await store.readFrames(run.runId, undefined, 100);
        expect(entries.map((entry) => entry.offset)).toEqual(["1-1", "1-2", "1-3", "1-4", "1-5"]);
        expect(entries.map((entry) => entry.payload)).toEqual(["a0", "b0", "b1", "b2", "c0"].map(dataPayload));
      });

      it("counts frames and their payload lengths in UTF-16 code units", async () => {
        const run = await createRun();
        const payloads = ['{"text":"héllo"}', '{"text":"😀 你好"}', "{}"];
        await store.appendFrames(run.runId, 1, [{ type: "data", payload: payloads[0]! }]);
        let record = (await store.getRun(run.runId))!;
        expect(record.frameCount).toBe(1);
        expect(record.logBytes).toBe(payloads[0]!.length);
        await store.appendFrames(run.runId, 1, [
          { type: "data", payload: payloads[1]! },
          { type: "commit", payload: payloads[2]! },
        ]);
        record = (await store.getRun(run.runId))!;
        expect(record.frameCount).toBe(3);
        expect(record.logBytes).toBe(payloads.reduce((sum, payload) => sum + payload.length, 0));
        expect(record.logBytes).toBe(16 + 16 + 2); // UTF-16 code units: "😀" counts 2 (not 4 bytes, not 1 code point)
      });

      it("gives concurrent appends distinct offsets without gaps", async () => {
        const run = await createRun();
        const offsets = await Promise.all(
          Array.from({ length: 20 }, (_, index) => store.appendFrames(run.runId, 1, [{ type: "data", payload: dataPayload(`p${index}`) }])),
        );
        expect([...offsets].sort(bySequence)).toEqual(Array.from({ length: 20 }, (_, index) => `1-${index + 1}`));
        const entries = await store.readFrames(run.runId, undefined, 100);
        expect(entries.map((entry) => entry.offset)).toEqual(Array.from({ length: 20 }, (_, index) => `1-${index + 1}`));
        for (const [index, offset] of offsets.entries()) {
          expect(entries.find((entry) => entry.offset === offset)!.payload).toBe(dataPayload(`p${index}`));
        }
        expect((await store.getRun(run.runId))!.frameCount).toBe(20);
      });

      it("upserts journal entries by hashedStepId and lists them by position, not by write order", async () => {
        const run = await createRun();
        const second = runStep(1, { status: "retrying", output: undefined, attempts: 1, error: { name: "TypeError", message: "boom ✗" }, wakeAt: clock + 500 });
        const third = runStep(2, { output: '{"n":3}' });
        const first = runStep(0, { output: '"first"' });
        await store.appendFrames(run.runId, 1, dataFrames(1), { step: second });
        await store.appendFrames(run.runId, 1, [], { step: third });
        await store.appendFrames(run.runId, 1, [], { step: first });
        expect(await store.listSteps(run.runId)).toEqual([first, second, third]);

        const secondDone: StepRecord = { ...runStep(1, { output: '{"attempt":2}', attempts: 2 }) };
        await store.appendFrames(run.runId, 1, dataFrames(1), { step: secondDone });
        const steps = await store.listSteps(run.runId);
        expect(steps).toEqual([first, secondDone, third]);
        expect(steps[1]!.error).toBeUndefined();
        expect(steps[1]!.wakeAt).toBeUndefined();
      });

      it("round-trips every kind of journal entry exactly", async () => {
        const run = await createRun();
        const entries: StepRecord[] = [
          runStep(0, { output: JSON.stringify({ text: "ünïcødé 😀", list: [1, null, "x"] }) }),
          runStep(1, { status: "failed", output: undefined, attempts: 4, error: { name: "StepFailedError", message: "gave up\nafter 4" } }),
          runStep(2, { status: "succeeded", output: undefined, attempts: 1 }),
          { hashedStepId: hashedId(3), stepId: "nap", position: 3, kind: "sleep", status: "sleeping", attempts: 0, wakeAt: clock + 30_000 },
          waitingStep("order/paid", { "data.orderId": "o1", "data.items": [{ sku: "a" }] }, clock + 60_000, 4),
          { hashedStepId: hashedId(5), stepId: "slept", position: 5, kind: "sleep", status: "succeeded", attempts: 0, wakeAt: clock - 1 },
          // An attempt put on record before it runs, with the retries its step may make.
          runStep(6, { status: "running", output: undefined, attempts: 2, retries: 7 }),
        ];
        for (const entry of entries) await store.appendFrames(run.runId, 1, [], { step: entry });
        const listed = await store.listSteps(run.runId);
        expect(listed).toEqual(entries);
        expect(listed[2]!.output).toBeUndefined();
        expect(listed[0]!.error).toBeUndefined();
      });

      it("sets outsideCommitted", async () => {
        const run = await createRun();
        await store.appendFrames(run.runId, 1, dataFrames(3), { outsideCommitted: 2 });
        expect((await store.getRun(run.runId))!.outsideCommitted).toBe(2);
        await store.appendFrames(run.runId, 1, dataFrames(1));
        expect((await store.getRun(run.runId))!.outsideCommitted).toBe(2);
        await store.appendFrames(run.runId, 1, [], { outsideCommitted: 4 });
        expect((await store.getRun(run.runId))!.outsideCommitted).toBe(4);
      });

      it("finishes a run: status, result, owner and wakeAt cleared, result frame in the log", async () => {
        const run = await createRun();
        const offset = await store.appendFrames(run.runId, 1, [...dataFrames(2), { type: "result", payload: '{"type":"result"}' }], {
          finish: { status: "succeeded", response },
        });
        expect(offset).toBe("1-3");
        const record = (await store.getRun(run.runId))!;
        expect(record.status).toBe("succeeded");
        expect(record.result).toEqual(response);
        expect(record.owner).toBeNull();
        expect(record.wakeAt).toBeNull();
        expect(record.epoch).toBe(1);
        expect(record.frameCount).toBe(3);
        const [last] = entriesOf(await store.readFrames(run.runId, "1-2", 10));
        expect(last).toEqual({ offset: "1-3", type: "result", payload: '{"type":"result"}' });
      });

      it("finishes a run as failed, with a base64 response body", async () => {
        const run = await createRun();
        const failed: ResponseSnapshot = { status: 500, statusText: "Internal Server Error", headers: [], body: "AAEC/w==", bodyEncoding: "base64" };
        await store.appendFrames(run.runId, 1, [{ type: "result", payload: "{}" }], { finish: { status: "failed", response: failed } });
        const record = (await store.getRun(run.runId))!;
        expect(record.status).toBe("failed");
        expect(record.result).toEqual(failed);
      });

      it("suspends a run: status suspended, wakeAt set, owner cleared, frames of the same call stored", async () => {
        const run = await createRun();
        const step: StepRecord = { hashedStepId: hashedId(0), stepId: "nap", position: 0, kind: "sleep", status: "sleeping", attempts: 0, wakeAt: clock + 5_000 };
        const offset = await store.appendFrames(run.runId, 1, dataFrames(2), { step, suspend: { wakeAt: clock + 5_000 } });
        expect(offset).toBe("1-2");
        const record = (await store.getRun(run.runId))!;
        expect(record.status).toBe("suspended");
        expect(record.wakeAt).toBe(clock + 5_000);
        expect(record.owner).toBeNull();
        expect(record.epoch).toBe(1);
        expect(record.frameCount).toBe(2);
        expect(await store.listSteps(run.runId)).toEqual([step]);
      });

      it("stores fractional times as whole milliseconds, rounded up (step.sleep(\"x\", 10.5), \"0.0015s\")", async () => {
        const run = await createRun({ createdAt: clock + 0.25, leaseExpiresAt: clock + LEASE + 0.5 });
        const created = (await store.getRun(run.runId))!;
        expect(created.createdAt).toBe(clock + 1);
        expect(created.leaseExpiresAt).toBe(clock + LEASE + 1);
        const step: StepRecord = { hashedStepId: hashedId(0), stepId: "x", position: 0, kind: "sleep", status: "sleeping", attempts: 0, wakeAt: clock + 10.5 };
        await store.appendFrames(run.runId, 1, dataFrames(1), { step, suspend: { wakeAt: clock + 1.5 } });
        const record = (await store.getRun(run.runId))!;
        expect(record.wakeAt).toBe(clock + 2);
        expect(await store.nextWakeAt()).toBe(clock + 2);
        expect((await store.listSteps(run.runId))[0]!.wakeAt).toBe(clock + 11);
        // Not due before the rounded-up time; due at it.
        expect(await store.claimRun(run.runId, "owner-2", clock + 1.5, clock + 1.75)).toBeUndefined();
        const claimed = (await store.claimRun(run.runId, "owner-2", clock + LEASE + 0.1, clock + 2))!;
        expect(claimed.leaseExpiresAt).toBe(clock + LEASE + 1);
        expect(await store.renewLease(run.runId, "owner-2", claimed.epoch, clock + LEASE + 7.2)).toBe(true);
        expect((await store.getRun(run.runId))!.leaseExpiresAt).toBe(clock + LEASE + 8);
      });

      it("applies effects given with zero frames", async () => {
        const run = await createRun();
        await store.appendFrames(run.runId, 1, dataFrames(2));
        const step = runStep(0, { output: "42" });
        expect(await store.appendFrames(run.runId, 1, [], { step, outsideCommitted: 2 })).toBe("");
        let record = (await store.getRun(run.runId))!;
        expect(record).toMatchObject({ outsideCommitted: 2, frameCount: 2, status: "running" });
        expect(await store.listSteps(run.runId)).toEqual([step]);
        expect(await store.appendFrames(run.runId, 1, [], { finish: { status: "succeeded", response } })).toBe("");
        record = (await store.getRun(run.runId))!;
        expect(record).toMatchObject({ status: "succeeded", frameCount: 2, owner: null });
        expect(record.result).toEqual(response);
      });

      it("makes frames and effects visible together by the time subscribers are told", async () => {
        const run = await createRun();
        const seen: Array<{ offsets: string[]; outsideCommitted: number | undefined; steps: number }> = [];
        const unsubscribe = store.subscribe(run.runId, () => {
          void Promise.all([store.readFrames(run.runId, undefined, 100), store.getRun(run.runId), store.listSteps(run.runId)]).then(
            ([entries, record, steps]) => {
              seen.push({ offsets: entries.map((entry) => entry.offset), outsideCommitted: record?.outsideCommitted, steps: steps.length });
            },
          );
        });
        await store.appendFrames(run.runId, 1, dataFrames(2), { step: runStep(0), outsideCommitted: 1 });
        await vi.waitFor(() => expect(seen.length).toBeGreaterThan(0), { timeout: 5_000, interval: 5 });
        expect(seen[0]).toEqual({ offsets: ["1-1", "1-2"], outsideCommitted: 1, steps: 1 });
        unsubscribe();
      });
    });

    describe("refused writes", () => {
      it("refuses a write from another epoch as fenced, and changes nothing", async () => {
        const run = await createRun();
        await store.appendFrames(run.runId, 1, dataFrames(2), { step: runStep(0), outsideCommitted: 1 });
        const before = await observe(run.runId);
        for (const epoch of [0, 2, 7]) {
          await expectRefused(
            store.appendFrames(run.runId, epoch, dataFrames(3, "x"), {
              step: runStep(0, { status: "failed", error: { name: "Error", message: "x" } }),
              outsideCommitted: 9,
              finish: { status: "failed", response },
            }),
            "fenced",
          );
          await expectRefused(store.appendFrames(run.runId, epoch, [], { suspend: { wakeAt: clock } }), "fenced");
        }
        expect(await observe(run.runId)).toEqual(before);
        expect(await store.appendFrames(run.runId, 1, dataFrames(1))).toBe("1-3");
      });

      it("refuses a write to a finished run as over, and changes nothing", async () => {
        const run = await createRun();
        await store.appendFrames(run.runId, 1, [{ type: "result", payload: "{}" }], { step: runStep(0), finish: { status: "succeeded", response } });
        const before = await observe(run.runId);
        await expectRefused(store.appendFrames(run.runId, 1, dataFrames(1)), "over");
        await expectRefused(store.appendFrames(run.runId, 1, [], { step: runStep(1), outsideCommitted: 5 }), "over");
        await expectRefused(store.appendFrames(run.runId, 1, [], { suspend: { wakeAt: clock + 1 } }), "over");
        await expectRefused(
          store.appendFrames(run.runId, 1, [{ type: "result", payload: "{}" }], {
            finish: { status: "failed", response: { ...response, status: 500 } },
          }),
          "over",
        );
        expect(await observe(run.runId)).toEqual(before);
      });

      it("refuses a write to an unknown run as unknown-run, and creates nothing", async () => {
        await expectRefused(store.appendFrames("no-such-run", 1, dataFrames(1), { step: runStep(0) }), "unknown-run");
        await expectRefused(store.appendFrames("no-such-run", 1, []), "unknown-run");
        expect(await store.getRun("no-such-run")).toBeUndefined();
      });

      it("rejects reads of an unknown run's log as unknown-run; its journal is empty", async () => {
        await expectRefused(store.readFrames("no-such-run", undefined, 10), "unknown-run");
        await expectRefused(store.readFrames("no-such-run", "1-1", 10), "unknown-run");
        expect(await store.listSteps("no-such-run")).toEqual([]);
      });
    });

    describe("readFrames", () => {
      it("reads from the start, strictly after an offset, and at most limit frames", async () => {
        const run = await createRun();
        await store.appendFrames(run.runId, 1, dataFrames(5));
        const offsetsAfter = async (after: string | undefined, limit: number) =>
          (await store.readFrames(run.runId, after, limit)).map((entry) => entry.offset);
        expect(await offsetsAfter(undefined, 100)).toEqual(["1-1", "1-2", "1-3", "1-4", "1-5"]);
        expect(await offsetsAfter(undefined, 2)).toEqual(["1-1", "1-2"]);
        expect(await offsetsAfter("1-2", 100)).toEqual(["1-3", "1-4", "1-5"]);
        expect(await offsetsAfter("1-2", 1)).toEqual(["1-3"]);
        expect(await offsetsAfter("0-0", 100)).toEqual(["1-1", "1-2", "1-3", "1-4", "1-5"]);
        expect(await offsetsAfter("1-5", 100)).toEqual([]);
        expect(await offsetsAfter("1-99", 100)).toEqual([]);
        expect(await offsetsAfter("2-1", 100)).toEqual([]);
      });

      it("reads across a takeover, after offsets of an older epoch that were never stored", async () => {
        const run = await suspendedRun(clock + 1_000, 4);
        clock += 1_000;
        const claimed = await store.claimRun(run.runId, "owner-2", clock + LEASE, clock);
        expect(claimed?.epoch).toBe(2);
        expect(await store.appendFrames(run.runId, 2, dataFrames(3, "e2"))).toBe("2-7");
        const offsetsAfter = async (after: string | undefined) => (await store.readFrames(run.runId, after, 100)).map((entry) => entry.offset);
        const all = ["1-1", "1-2", "1-3", "1-4", "2-5", "2-6", "2-7"];
        expect(await offsetsAfter(undefined)).toEqual(all);
        expect(await offsetsAfter("1-2")).toEqual(all.slice(2));
        expect(await offsetsAfter("1-4")).toEqual(["2-5", "2-6", "2-7"]);
        // A client of the first executor may hold offsets that were streamed but never stored.
        expect(await offsetsAfter("1-7")).toEqual(["2-5", "2-6", "2-7"]);
        expect(await offsetsAfter("1-1000")).toEqual(["2-5", "2-6", "2-7"]);
        expect(await offsetsAfter("2-3")).toEqual(["2-5", "2-6", "2-7"]);
        expect(await offsetsAfter("2-5")).toEqual(["2-6", "2-7"]);
        expect(await offsetsAfter("2-7")).toEqual([]);
        expect(await offsetsAfter("3-1")).toEqual([]);
        expect((await store.readFrames(run.runId, "1-7", 2)).map((entry) => entry.offset)).toEqual(["2-5", "2-6"]);
      });

      it("round-trips frame types and payloads exactly: unicode, escapes, long payloads", async () => {
        const run = await createRun();
        const long = JSON.stringify({ text: "λ😀".repeat(100_000) + "x".repeat(300_000) });
        const frames: FrameToAppend[] = [
          { type: "data", payload: JSON.stringify({ text: "héllo wörld — 你好 — 😀👩‍👩‍👧 — e\u0301" }) },
          { type: "data", payload: JSON.stringify({ text: "line\nbreak\r\n\t\"quoted\" \\ \u2028\u2029 \u0000" }) },
          { type: "commit", payload: '{"hashedStepId":null}' },
          { type: "rollback", payload: '{"attempt":1,"error":{"name":"Error","message":"✗"}}' },
          { type: "data", payload: long },
          { type: "data", payload: "" },
          { type: "result", payload: '{"status":"succeeded"}' },
        ];
        await store.appendFrames(run.runId, 1, frames);
        const entries = entriesOf(await store.readFrames(run.runId, undefined, 100));
        expect(entries).toEqual(frames.map((frame, index) => ({ ...frame, offset: `1-${index + 1}` })));
        expect(entries[4]!.payload.length).toBe(long.length);
        expect((await store.getRun(run.runId))!.logBytes).toBe(frames.reduce((sum, frame) => sum + frame.payload.length, 0));
      });
    });

    describe("readFrames with maxBytes", () => {
      /** A frame whose payload is exactly `length` UTF-16 code units of ASCII (a JSON string). */
      const sized = (length: number, type: LogFrameType = "data"): FrameToAppend => ({ type, payload: JSON.stringify("x".repeat(length - 2)) });
      const offsetsOf = (entries: readonly LogEntry[]) => entries.map((entry) => entry.offset);

      it("stops at the frame with which the payloads reach maxBytes, within limit", async () => {
        const run = await createRun();
        await store.appendFrames(run.runId, 1, [sized(10), sized(10), sized(10), sized(10), sized(10)]);
        const read = async (after: string | undefined, limit: number, maxBytes?: number) =>
          offsetsOf(await store.readFrames(run.runId, after, limit, maxBytes));
        expect(await read(undefined, 100, 15)).toEqual(["1-1", "1-2"]);
        expect(await read(undefined, 100, 20)).toEqual(["1-1", "1-2"]);
        expect(await read(undefined, 100, 21)).toEqual(["1-1", "1-2", "1-3"]);
        expect(await read(undefined, 100, 10)).toEqual(["1-1"]);
        expect(await read("1-3", 100, 11)).toEqual(["1-4", "1-5"]);
        expect(await read("1-4", 100, 11)).toEqual(["1-5"]);
        expect(await read("1-5", 100, 11)).toEqual([]);
        // limit still bounds the read, and without a byte bound it is the only bound.
        expect(await read(undefined, 2, 1_000)).toEqual(["1-1", "1-2"]);
        expect(await read(undefined, 1, 15)).toEqual(["1-1"]);
        expect(await read(undefined, 100, Number.POSITIVE_INFINITY)).toHaveLength(5);
        expect(await read(undefined, 100)).toHaveLength(5);
        expect(await read(undefined, 100, 1_000)).toHaveLength(5);
      });

      it("always returns at least one frame: a frame larger than maxBytes, or maxBytes 0", async () => {
        const run = await createRun();
        const large = JSON.stringify({ text: "λ😀".repeat(50_000) });
        await store.appendFrames(run.runId, 1, [{ type: "data", payload: large }, sized(5), sized(5, "commit")]);
        const first = entriesOf(await store.readFrames(run.runId, undefined, 100, 1_000));
        expect(first).toEqual([{ type: "data", payload: large, offset: "1-1" }]);
        expect(offsetsOf(await store.readFrames(run.runId, undefined, 100, 0))).toEqual(["1-1"]);
        expect(offsetsOf(await store.readFrames(run.runId, "1-1", 100, 0))).toEqual(["1-2"]);
        expect(entriesOf(await store.readFrames(run.runId, "1-1", 100, 1_000))).toEqual([
          { ...sized(5), offset: "1-2" },
          { ...sized(5, "commit"), offset: "1-3" },
        ]);
      });

      it("counts payloads in UTF-16 code units, as logBytes does (not UTF-8 bytes, not code points)", async () => {
        const run = await createRun();
        // 12 code units (7 code points, 22 UTF-8 bytes) each.
        const astral = { type: "data" as LogFrameType, payload: JSON.stringify("😀".repeat(5)) };
        // 8 code units (17 UTF-8 bytes) each.
        const accented = { type: "data" as LogFrameType, payload: JSON.stringify("é你".repeat(3)) };
        await store.appendFrames(run.runId, 1, [astral, astral, accented, accented, accented]);
        expect(astral.payload.length).toBe(12);
        expect(accented.payload.length).toBe(8);
        const read = async (after: string | undefined, maxBytes: number) => offsetsOf(await store.readFrames(run.runId, after, 100, maxBytes));
        expect(await read(undefined, 8)).toEqual(["1-1"]);
        expect(await read(undefined, 12)).toEqual(["1-1"]);
        expect(await read(undefined, 13)).toEqual(["1-1", "1-2"]);
        expect(await read(undefined, 25)).toEqual(["1-1", "1-2", "1-3"]);
        expect(await read("1-2", 9)).toEqual(["1-3", "1-4"]);
        expect(await read("1-2", 16)).toEqual(["1-3", "1-4"]);
        expect(await read("1-2", 17)).toEqual(["1-3", "1-4", "1-5"]);
        expect((await store.getRun(run.runId))!.logBytes).toBe(2 * 12 + 3 * 8);
      });

      it("pages through a log of mixed sizes across a takeover: every frame once, in order", async () => {
        const run = await suspendedRun(clock + 1_000);
        const sizes = [3, 40_000, 17, 250_000, 8, 8, 8, 120_000, 1, 64];
        const frames = sizes.map((size, index) => ({ type: "data" as LogFrameType, payload: JSON.stringify({ step: null, data: `${index}:${"y".repeat(size)}` }) }));
        // The suspended run holds no frames; a second executor writes half, a third the rest.
        clock += 1_000;
        expect((await store.claimRun(run.runId, "owner-2", clock + LEASE, clock))?.epoch).toBe(2);
        await store.appendFrames(run.runId, 2, frames.slice(0, 5), { suspend: { wakeAt: clock + 1_000 } });
        clock += 1_000;
        expect((await store.claimRun(run.runId, "owner-3", clock + LEASE, clock))?.epoch).toBe(3);
        await store.appendFrames(run.runId, 3, [...frames.slice(5), { type: "result", payload: '{"status":"succeeded"}' }], {
          finish: { status: "succeeded", response },
        });
        const read: LogEntry[] = [];
        let reads = 0;
        for (let after: string | undefined; ; ) {
          const page = await store.readFrames(run.runId, after, 3, 50_000);
          reads += 1;
          if (page.length === 0) break;
          expect(page.length).toBeLessThanOrEqual(3);
          // Below maxBytes before the last frame of the page.
          expect(page.slice(0, -1).reduce((sum, entry) => sum + entry.payload.length, 0)).toBeLessThan(50_000);
          read.push(...page);
          after = page.at(-1)!.offset;
        }
        expect(entriesOf(read).map(({ type, payload }) => ({ type, payload }))).toEqual([...frames, { type: "result", payload: '{"status":"succeeded"}' }]);
        expect(offsetsOf(read)).toEqual(["2-1", "2-2", "2-3", "2-4", "2-5", "3-6", "3-7", "3-8", "3-9", "3-10", "3-11"]);
        expect(reads).toBeGreaterThan(5);
      });

      it("rejects a bounded read of an unknown run as unknown-run, and reads an empty log as empty", async () => {
        await expectRefused(store.readFrames("no-such-run", undefined, 10, 1_000), "unknown-run");
        await expectRefused(store.readFrames("no-such-run", "1-1", 10, 0), "unknown-run");
        const run = await createRun();
        expect(await store.readFrames(run.runId, undefined, 10, 1_000)).toEqual([]);
        expect(await store.readFrames(run.runId, "1-5", 10, 0)).toEqual([]);
      });
    });

    describe("subscribe", () => {
      it("calls a listener after frames are appended, when they are readable", async () => {
        const run = await createRun();
        const reads: string[][] = [];
        const unsubscribe = store.subscribe(run.runId, () => {
          void store.readFrames(run.runId, undefined, 100).then((entries) => reads.push(entries.map((entry) => entry.offset)));
        });
        await store.appendFrames(run.runId, 1, dataFrames(2));
        await vi.waitFor(() => expect(reads.length).toBeGreaterThan(0), { timeout: 5_000, interval: 5 });
        expect(reads[0]).toEqual(["1-1", "1-2"]);
        await store.appendFrames(run.runId, 1, dataFrames(1));
        await vi.waitFor(() => expect(reads.at(-1)).toEqual(["1-1", "1-2", "1-3"]), { timeout: 5_000, interval: 5 });
        for (const read of reads) expect(read.length).toBeGreaterThan(0);
        unsubscribe();
      });

      it("stops calling a listener once unsubscribed", async () => {
        const run = await createRun();
        let calls = 0;
        const unsubscribe = store.subscribe(run.runId, () => {
          calls += 1;
        });
        await store.appendFrames(run.runId, 1, dataFrames(1));
        await vi.waitFor(() => expect(calls).toBeGreaterThan(0), { timeout: 5_000, interval: 5 });
        unsubscribe();
        await settle();
        const callsBefore = calls;
        await store.appendFrames(run.runId, 1, dataFrames(2));
        await store.appendFrames(run.runId, 1, [{ type: "result", payload: "{}" }], { finish: { status: "succeeded", response } });
        await settle();
        expect(calls).toBe(callsBefore);
      });

      it("calls every subscriber, each until it unsubscribes", async () => {
        const run = await createRun();
        let first = 0;
        let second = 0;
        const unsubscribeFirst = store.subscribe(run.runId, () => {
          first += 1;
        });
        const unsubscribeSecond = store.subscribe(run.runId, () => {
          second += 1;
        });
        await store.appendFrames(run.runId, 1, dataFrames(1));
        await vi.waitFor(() => expect(first > 0 && second > 0).toBe(true), { timeout: 5_000, interval: 5 });
        unsubscribeFirst();
        await settle();
        const firstBefore = first;
        const secondBefore = second;
        await store.appendFrames(run.runId, 1, dataFrames(1));
        await vi.waitFor(() => expect(second).toBeGreaterThan(secondBefore), { timeout: 5_000, interval: 5 });
        await settle();
        expect(first).toBe(firstBefore);
        unsubscribeSecond();
      });

      it("tells subscribers of frames appended after a takeover", async () => {
        const run = await suspendedRun(clock, 1);
        let reads: string[] = [];
        const unsubscribe = store.subscribe(run.runId, () => {
          void store.readFrames(run.runId, "1-1", 100).then((entries) => {
            reads = entries.map((entry) => entry.offset);
          });
        });
        await store.claimRun(run.runId, "owner-2", clock + LEASE, clock);
        await store.appendFrames(run.runId, 2, dataFrames(2));
        await vi.waitFor(() => expect(reads).toEqual(["2-2", "2-3"]), { timeout: 5_000, interval: 5 });
        unsubscribe();
      });
    });

    describe("claimRun", () => {
      it("claims a suspended run that is due: epoch + 1, owner, lease, running, wakeAt null", async () => {
        const run = await suspendedRun(clock + 1_000, 2);
        clock += 1_500;
        const claimed = await store.claimRun(run.runId, "owner-2", clock + LEASE, clock);
        expect(claimed).toBeDefined();
        expect(claimed).toMatchObject({
          runId: run.runId,
          endpointId: run.endpointId,
          status: "running",
          epoch: 2,
          owner: "owner-2",
          leaseExpiresAt: clock + LEASE,
          wakeAt: null,
          frameCount: 2,
          createdAt: run.createdAt,
        });
        expect(claimed!.request).toEqual(run.request);
        expect(await store.getRun(run.runId)).toEqual(claimed);
      });

      it("claims a suspended run exactly at its wakeAt, not a millisecond before", async () => {
        const run = await suspendedRun(clock + 1_000);
        clock += 999;
        expect(await store.claimRun(run.runId, "owner-2", clock + LEASE, clock)).toBeUndefined();
        expect(await store.getRun(run.runId)).toMatchObject({ status: "suspended", epoch: 1, owner: null, wakeAt: run.wakeAt });
        clock += 1;
        expect((await store.claimRun(run.runId, "owner-2", clock + LEASE, clock))?.epoch).toBe(2);
      });

      it("does not claim a running run whose lease holds (up to leaseExpiresAt included)", async () => {
        const run = await createRun({ leaseExpiresAt: clock + 1_000 });
        expect(await store.claimRun(run.runId, "owner-2", clock + LEASE, clock)).toBeUndefined();
        clock += 1_000;
        expect(await store.claimRun(run.runId, "owner-2", clock + LEASE, clock)).toBeUndefined();
        expect(await store.getRun(run.runId)).toMatchObject({ status: "running", epoch: 1, owner: "owner-1", leaseExpiresAt: run.leaseExpiresAt });
      });

      it("claims a running run whose lease has expired", async () => {
        const run = await createRun({ leaseExpiresAt: clock + 1_000 });
        await store.appendFrames(run.runId, 1, dataFrames(3));
        clock += 1_001;
        const claimed = await store.claimRun(run.runId, "owner-2", clock + LEASE, clock);
        expect(claimed).toMatchObject({ status: "running", epoch: 2, owner: "owner-2", leaseExpiresAt: clock + LEASE, wakeAt: null, frameCount: 3 });
      });

      it("does not claim a finished run or an unknown one", async () => {
        const run = await createRun({ leaseExpiresAt: clock + 10 });
        await store.appendFrames(run.runId, 1, [{ type: "result", payload: "{}" }], { finish: { status: "succeeded", response } });
        clock += 1_000;
        expect(await store.claimRun(run.runId, "owner-2", clock + LEASE, clock)).toBeUndefined();
        expect(await store.getRun(run.runId)).toMatchObject({ status: "succeeded", epoch: 1, owner: null });
        expect(await store.claimRun("no-such-run", "owner-2", clock + LEASE, clock)).toBeUndefined();
        expect(await store.getRun("no-such-run")).toBeUndefined();
      });

      it("lets exactly one of two racing claims win", async () => {
        const suspended = await suspendedRun(clock);
        const expired = await createRun({ leaseExpiresAt: clock - 1 });
        for (const run of [suspended, expired]) {
          const results = await Promise.all([
            store.claimRun(run.runId, "owner-a", clock + LEASE, clock),
            store.claimRun(run.runId, "owner-b", clock + LEASE, clock),
            store.claimRun(run.runId, "owner-c", clock + LEASE, clock),
          ]);
          const winners = results.filter((result) => result !== undefined);
          expect(winners).toHaveLength(1);
          expect(winners[0]!.epoch).toBe(2);
          const record = (await store.getRun(run.runId))!;
          expect(record.epoch).toBe(2);
          expect(record.owner).toBe(winners[0]!.owner);
        }
      });

      it("fences the previous executor and continues the sequence in the new epoch", async () => {
        const run = await createRun({ leaseExpiresAt: clock + 100 });
        await store.appendFrames(run.runId, 1, dataFrames(3), { step: runStep(0) });
        clock += 101;
        await store.claimRun(run.runId, "owner-2", clock + LEASE, clock);
        const before = await observe(run.runId);
        await expectRefused(store.appendFrames(run.runId, 1, dataFrames(1), { step: runStep(1) }), "fenced");
        await expectRefused(store.appendFrames(run.runId, 1, [], { finish: { status: "succeeded", response } }), "fenced");
        expect(await observe(run.runId)).toEqual(before);
        expect(await store.appendFrames(run.runId, 2, dataFrames(2))).toBe("2-5");
        await store.appendFrames(run.runId, 2, [], { suspend: { wakeAt: clock + 10 } });
        clock += 10;
        expect((await store.claimRun(run.runId, "owner-3", clock + LEASE, clock))?.epoch).toBe(3);
        await expectRefused(store.appendFrames(run.runId, 2, dataFrames(1)), "fenced");
        expect(await store.appendFrames(run.runId, 3, dataFrames(1))).toBe("3-6");
        expect(await store.listSteps(run.runId)).toEqual([runStep(0)]);
        expect((await store.getRun(run.runId))!.frameCount).toBe(6);
      });
    });

    describe("renewLease", () => {
      it("extends the holder's lease and refuses anyone else", async () => {
        const run = await createRun({ leaseExpiresAt: clock + 1_000 });
        expect(await store.renewLease(run.runId, "owner-1", 1, clock + 5_000)).toBe(true);
        expect((await store.getRun(run.runId))!.leaseExpiresAt).toBe(clock + 5_000);
        expect(await store.renewLease(run.runId, "owner-2", 1, clock + 9_000)).toBe(false);
        expect(await store.renewLease(run.runId, "owner-1", 2, clock + 9_000)).toBe(false);
        expect((await store.getRun(run.runId))!.leaseExpiresAt).toBe(clock + 5_000);
        expect(await store.renewLease("no-such-run", "owner-1", 1, clock + 9_000)).toBe(false);
      });

      it("refuses the previous owner after a takeover, and owners of suspended or finished runs", async () => {
        const run = await createRun({ leaseExpiresAt: clock + 100 });
        clock += 101;
        await store.claimRun(run.runId, "owner-2", clock + LEASE, clock);
        expect(await store.renewLease(run.runId, "owner-1", 1, clock + 9_000)).toBe(false);
        expect(await store.renewLease(run.runId, "owner-2", 1, clock + 9_000)).toBe(false);
        expect(await store.renewLease(run.runId, "owner-2", 2, clock + 9_000)).toBe(true);

        await store.appendFrames(run.runId, 2, [], { suspend: { wakeAt: clock + 60_000 } });
        expect(await store.renewLease(run.runId, "owner-2", 2, clock + 9_000)).toBe(false);
        expect((await store.getRun(run.runId))!.status).toBe("suspended");

        const finished = await createRun();
        await store.appendFrames(finished.runId, 1, [], { finish: { status: "succeeded", response } });
        expect(await store.renewLease(finished.runId, "owner-1", 1, clock + 9_000)).toBe(false);
      });

      it("keeps claimRun out until the renewed lease expires", async () => {
        const run = await createRun({ leaseExpiresAt: clock + 1_000 });
        expect(await store.renewLease(run.runId, "owner-1", 1, clock + 5_000)).toBe(true);
        clock += 1_001;
        expect(await store.claimRun(run.runId, "owner-2", clock + LEASE, clock)).toBeUndefined();
        expect((await store.listResumableRuns(clock, 10)).map((resumable) => resumable.runId)).not.toContain(run.runId);
        clock += 4_000;
        expect((await store.claimRun(run.runId, "owner-2", clock + LEASE, clock))?.owner).toBe("owner-2");
      });
    });

    describe("listResumableRuns and nextWakeAt", () => {
      it("lists due suspended runs and expired running runs, longest due first, up to limit", async () => {
        // Ids and creation order sort against due order, so the order cannot come from either.
        const dueLater = await createRun({ runId: "aa-due-later" });
        await store.appendFrames(dueLater.runId, 1, [], { suspend: { wakeAt: clock + 50 } });
        clock += 10;
        const expiredRunning = await createRun({ runId: "mm-expired", leaseExpiresAt: clock + 20, endpointId: "GET /expired" });
        clock += 10;
        const notDue = await suspendedRun(clock + 1_000_000);
        clock += 10;
        const live = await createRun({ leaseExpiresAt: clock + 1_000_000 });
        clock += 10;
        const finished = await createRun({ leaseExpiresAt: clock });
        await store.appendFrames(finished.runId, 1, [], { finish: { status: "failed", response } });
        clock += 10;
        const dueEarlier = await createRun({ runId: "zz-due-earlier" });
        await store.appendFrames(dueEarlier.runId, 1, [], { suspend: { wakeAt: clock - 1_000 } });
        clock += 100;

        const listed = await store.listResumableRuns(clock, 10);
        // dueAt: a suspended run's wakeAt, a running run's leaseExpiresAt.
        expect(listed).toEqual([
          { runId: dueEarlier.runId, endpointId: dueEarlier.endpointId, dueAt: START + 50 - 1_000 },
          { runId: expiredRunning.runId, endpointId: "GET /expired", dueAt: START + 30 },
          { runId: dueLater.runId, endpointId: dueLater.endpointId, dueAt: START + 50 },
        ]);
        expect(await store.listResumableRuns(clock, 2)).toEqual(listed.slice(0, 2));
        expect(await store.listResumableRuns(clock, 1)).toEqual(listed.slice(0, 1));
        const ids = listed.map((resumable) => resumable.runId);
        for (const excluded of [notDue, live, finished]) expect(ids).not.toContain(excluded.runId);

        expect((await store.listResumableRuns(START, 10)).map((resumable) => resumable.runId)).toEqual([dueEarlier.runId]);
        for (const resumable of listed) {
          expect(await store.claimRun(resumable.runId, "owner-2", clock + LEASE, clock)).toBeDefined();
        }
        expect(await store.listResumableRuns(clock, 10)).toEqual([]);
      });

      it("tells the earliest wakeAt among suspended runs, or null", async () => {
        expect(await store.nextWakeAt()).toBeNull();
        await createRun();
        expect(await store.nextWakeAt()).toBeNull();
        const later = await suspendedRun(clock + 5_000);
        const earliest = await suspendedRun(clock + 2_000);
        await suspendedRun(clock + 9_000);
        expect(await store.nextWakeAt()).toBe(clock + 2_000);
        clock += 3_000; // a wakeAt in the past still counts
        expect(await store.nextWakeAt()).toBe(START + 2_000);
        await store.claimRun(earliest.runId, "owner-2", clock + LEASE, clock);
        expect(await store.nextWakeAt()).toBe(START + 5_000);
        clock += 2_000;
        await store.claimRun(later.runId, "owner-2", clock + LEASE, clock);
        await store.appendFrames(later.runId, 2, [], { finish: { status: "succeeded", response } });
        expect(await store.nextWakeAt()).toBe(START + 9_000);
      });

      it("returns to null when no run is suspended any more", async () => {
        const run = await suspendedRun(clock + 10);
        expect(await store.nextWakeAt()).toBe(clock + 10);
        clock += 10;
        await store.claimRun(run.runId, "owner-2", clock + LEASE, clock);
        expect(await store.nextWakeAt()).toBeNull();
      });
    });

    describe("listResumableRuns pages after a cursor (fairness)", () => {
      /** `count` runs of `endpointId`, suspended until `wakeAt(index)` (before the clock: due). */
      async function dueRuns(count: number, prefix: string, endpointId: string, wakeAt: (index: number) => number): Promise<ResumableRun[]> {
        const made: ResumableRun[] = [];
        for (let index = 0; index < count; index += 1) {
          const run = await createRun({ runId: `${prefix}-${String(index).padStart(4, "0")}`, endpointId });
          await store.appendFrames(run.runId, 1, [], { suspend: { wakeAt: wakeAt(index) } });
          made.push({ runId: run.runId, endpointId, dueAt: wakeAt(index) });
        }
        return made;
      }

      /** The order of listResumableRuns (ASCII ids here: JavaScript's order is the stores' byte order). */
      function inOrder(runs: readonly ResumableRun[]): ResumableRun[] {
        return [...runs].sort((a, b) => a.dueAt - b.dueAt || (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
      }

      /** Every page of `limit` from the start, following the cursor until a page is short. */
      async function allPages(limit: number): Promise<ResumableRun[][]> {
        const pages: ResumableRun[][] = [];
        let after: ResumableCursor | undefined;
        for (;;) {
          const page = await store.listResumableRuns(clock, limit, after);
          pages.push(page);
          if (page.length < limit) return pages;
          after = page[page.length - 1];
        }
      }

      it("pages through every due run once, in order (ties of dueAt by runId), never more than limit per page", async () => {
        // Suspended runs with tied wake times, and expired running runs whose lease expiries tie with them.
        const suspended = await dueRuns(12, "s", "POST /api/chat", (index) => START - 100 + 10 * (index % 4));
        const running: ResumableRun[] = [];
        for (let index = 0; index < 5; index += 1) {
          const run = await createRun({ runId: `r-${index}`, leaseExpiresAt: START - 100 + 10 * (index % 3), endpointId: "GET /other" });
          running.push({ runId: run.runId, endpointId: "GET /other", dueAt: run.leaseExpiresAt });
        }
        await suspendedRun(clock + 60_000); // not due
        await createRun({ leaseExpiresAt: clock + 60_000 }); // lease held
        const expected = inOrder([...suspended, ...running]);

        expect(await store.listResumableRuns(clock, 100)).toEqual(expected);
        for (const limit of [1, 3, 5, 17]) {
          const pages = await allPages(limit);
          for (const page of pages) expect(page.length).toBeLessThanOrEqual(limit);
          expect(pages.flat()).toEqual(expected);
        }
        expect(await store.listResumableRuns(clock, 0)).toEqual([]);
        expect(await store.listResumableRuns(clock, 4, expected[expected.length - 1])).toEqual([]);
      });

      it("finds the runs behind 150 runs due earlier (orphans) within two pages of 100", async () => {
        const orphans = await dueRuns(150, "orphan", "POST /removed", (index) => START - 10_000 + index);
        const [wanted] = await dueRuns(1, "wanted", "POST /api/chat", () => START - 5);
        clock += 1;

        const first = await store.listResumableRuns(clock, 100);
        expect(first).toEqual(orphans.slice(0, 100));
        const second = await store.listResumableRuns(clock, 100, first[first.length - 1]);
        expect(second).toEqual([...orphans.slice(100), wanted]);
      });

      it("goes on after a cursor whose run is no longer due (claimed, or woken at another time)", async () => {
        const runs = await dueRuns(9, "t", "POST /api/chat", (index) => START - 50 + 10 * Math.floor(index / 3)); // three ties of three
        const cursor = runs[4]!;
        await store.claimRun(cursor.runId, "owner-2", clock + LEASE, clock);
        expect(await store.listResumableRuns(clock, 100, cursor)).toEqual(runs.slice(5));
        // A run listed before the cursor that leaves and comes back with a later due time is listed again.
        await store.claimRun(runs[0]!.runId, "owner-2", clock + LEASE, clock);
        await store.appendFrames(runs[0]!.runId, 2, [], { suspend: { wakeAt: clock } });
        expect(await store.listResumableRuns(clock, 100, cursor)).toEqual([...runs.slice(5), { ...runs[0]!, dueAt: clock }]);
      });

      it("starts at a time with { dueAt, runId: \"\" } and ends at now", async () => {
        const runs = await dueRuns(4, "u", "POST /api/chat", (index) => START - 40 + 10 * index);
        expect(await store.listResumableRuns(clock, 100, { dueAt: START - 20, runId: "" })).toEqual(runs.slice(2));
        expect(await store.listResumableRuns(START - 20, 100)).toEqual(runs.slice(0, 3));
        expect(await store.listResumableRuns(clock, 100, { dueAt: clock, runId: "" })).toEqual([]);
      });

      it("tells the earliest wakeAt later than `after`", async () => {
        await dueRuns(2, "w", "POST /api/chat", (index) => START - 1_000 + index); // due long ago
        await suspendedRun(clock + 5_000);
        await suspendedRun(clock + 2_000);
        expect(await store.nextWakeAt()).toBe(START - 1_000);
        expect(await store.nextWakeAt(clock)).toBe(clock + 2_000);
        expect(await store.nextWakeAt(START - 1_000)).toBe(START - 999);
        expect(await store.nextWakeAt(clock + 2_000)).toBe(clock + 5_000);
        expect(await store.nextWakeAt(clock + 5_000)).toBeNull();
      });
    });

    describe("deliverEvent", () => {
      it("delivers a matching event to a waiting step and wakes its run", async () => {
        const { runId, step } = await waitingRun("order/paid", { "data.orderId": "o1" }, clock + 60_000);
        clock += 1_000;
        const data = { orderId: "o1", amount: 12.5, note: "ünïcødé" };
        expect(await store.deliverEvent({ name: "order/paid", data }, clock)).toEqual([runId]);
        const [entry] = await store.listSteps(runId);
        expect(entry).toMatchObject({ hashedStepId: step.hashedStepId, stepId: step.stepId, position: 0, kind: "wait-for-event", status: "succeeded" });
        expect(entry!.output).toBe(JSON.stringify({ name: "order/paid", data }));
        const record = (await store.getRun(runId))!;
        expect(record.wakeAt).toBe(clock);
        expect(record.status).toBe("suspended");
        expect((await store.listResumableRuns(clock, 10)).map((resumable) => resumable.runId)).toEqual([runId]);
        expect(await store.nextWakeAt()).toBe(clock);
        expect((await store.claimRun(runId, "owner-2", clock + LEASE, clock))?.epoch).toBe(2);
      });

      it("notifies the subscribers of each woken run, and only of those", async () => {
        const woken = await waitingRun("order/paid", undefined, clock + 60_000);
        const other = await waitingRun("order/shipped", undefined, clock + 60_000);
        let wokenCalls = 0;
        let otherCalls = 0;
        const stopWoken = store.subscribe(woken.runId, () => (wokenCalls += 1));
        const stopOther = store.subscribe(other.runId, () => (otherCalls += 1));
        await store.deliverEvent({ name: "order/paid" }, clock);
        await vi.waitFor(() => expect(wokenCalls).toBeGreaterThan(0), { timeout: 2_000, interval: 5 });
        expect(otherCalls).toBe(0);
        stopWoken();
        stopOther();
      });

      it("matches on the event name and on every path of match, with deep equality", async () => {
        const deep = await waitingRun("order/paid", { "data.order.id": "o1", "data.items": [{ sku: "a", qty: 2 }] }, clock + 60_000);
        const plain = await waitingRun("order/paid", undefined, clock + 60_000);
        const empty = await waitingRun("order/shipped", {}, clock + 60_000);
        const before = await store.listSteps(deep.runId);

        expect(await store.deliverEvent({ name: "order/refunded", data: { order: { id: "o1" }, items: [{ sku: "a", qty: 2 }] } }, clock)).toEqual([]);
        expect(await store.deliverEvent({ name: "order/paid", data: { order: { id: "o2" }, items: [{ sku: "a", qty: 2 }] } }, clock + 1)).toEqual([
          plain.runId,
        ]);
        expect(await store.listSteps(deep.runId)).toEqual(before);
        expect((await store.getRun(deep.runId))!.wakeAt).toBe(START + 60_000);
        expect(await store.deliverEvent({ name: "order/paid", data: { order: { id: "o1" }, items: [{ sku: "a", qty: 3 }] } }, clock + 2)).toEqual([]);
        expect(await store.deliverEvent({ name: "order/paid", data: { order: { id: "o1" } } }, clock + 3)).toEqual([]);
        expect(await store.listSteps(deep.runId)).toEqual(before);

        const data = { order: { id: "o1", total: 3 }, items: [{ qty: 2, sku: "a" }] };
        expect(await store.deliverEvent({ name: "order/paid", data }, clock + 4)).toEqual([deep.runId]);
        expect((await store.listSteps(deep.runId))[0]!.output).toBe(JSON.stringify({ name: "order/paid", data }));
        expect(await store.deliverEvent({ name: "order/shipped" }, clock + 5)).toEqual([empty.runId]);
        expect((await store.listSteps(empty.runId))[0]!.output).toBe(JSON.stringify({ name: "order/shipped", data: null }));
      });

      it("does not deliver at or after the deadline (up to a millisecond before it)", async () => {
        const late = await waitingRun("approval", undefined, clock + 1_000);
        const exact = await waitingRun("approval", undefined, clock + 2_000);
        const inTime = await waitingRun("approval", undefined, clock + 2_001);
        clock += 2_000;
        expect(await store.deliverEvent({ name: "approval", data: true }, clock)).toEqual([inTime.runId]);
        for (const { runId, step } of [late, exact]) {
          expect(await store.listSteps(runId)).toEqual([step]);
          expect((await store.getRun(runId))!.wakeAt).toBe(step.wakeAt);
        }
        expect((await store.listSteps(inTime.runId))[0]!.output).toBe(JSON.stringify({ name: "approval", data: true }));
      });

      it("delivers a wait without a deadline at any time", async () => {
        const { runId } = await waitingRun("someday", undefined, undefined);
        clock += 365 * 86_400_000;
        expect(await store.deliverEvent({ name: "someday", data: 1 }, clock)).toEqual([runId]);
        expect((await store.listSteps(runId))[0]!.status).toBe("succeeded");
      });

      it("delivers once: a second identical event wakes nothing", async () => {
        const { runId } = await waitingRun("ping", undefined, clock + 60_000);
        expect(await store.deliverEvent({ name: "ping", data: { n: 1 } }, clock + 1)).toEqual([runId]);
        expect(await store.deliverEvent({ name: "ping", data: { n: 1 } }, clock + 2)).toEqual([]);
        const [entry] = await store.listSteps(runId);
        expect(entry!.output).toBe(JSON.stringify({ name: "ping", data: { n: 1 } }));
        expect((await store.getRun(runId))!.wakeAt).toBe(clock + 1);
      });

      it("wakes every run waiting for the event, each once", async () => {
        const first = await waitingRun("broadcast", undefined, clock + 60_000);
        const second = await waitingRun("broadcast", { "data.kind": "news" }, clock + 60_000);
        const other = await waitingRun("broadcast", { "data.kind": "sports" }, clock + 60_000);
        const twice = await createRun();
        await store.appendFrames(twice.runId, 1, [], { step: waitingStep("broadcast", undefined, clock + 60_000, 0) });
        await store.appendFrames(twice.runId, 1, [], {
          step: waitingStep("broadcast", { "data.kind": "news" }, clock + 60_000, 1),
          suspend: { wakeAt: clock + 60_000 },
        });
        clock += 5;
        const woken = await store.deliverEvent({ name: "broadcast", data: { kind: "news" } }, clock);
        expect([...woken].sort()).toEqual([first.runId, second.runId, twice.runId].sort());
        expect(woken).toHaveLength(3);
        for (const runId of [first.runId, second.runId, twice.runId]) {
          expect((await store.getRun(runId))!.wakeAt).toBe(clock);
          for (const entry of await store.listSteps(runId)) expect(entry.status).toBe("succeeded");
        }
        expect((await store.listSteps(other.runId))[0]!.status).toBe("waiting");
      });

      it("wakes a run that is still running: its next suspension wakes at once", async () => {
        const run = await createRun();
        await store.appendFrames(run.runId, 1, [], { step: waitingStep("quick", undefined, clock + 60_000) });
        clock += 5;
        expect(await store.deliverEvent({ name: "quick", data: "fast" }, clock)).toEqual([run.runId]);
        const record = (await store.getRun(run.runId))!;
        expect(record.status).toBe("running");
        expect(record.wakeAt).toBe(clock);
        expect(await store.nextWakeAt()).toBeNull(); // only suspended runs count
        await store.appendFrames(run.runId, 1, [], { suspend: { wakeAt: clock + 60_000 } });
        expect(await store.nextWakeAt()).toBe(clock);
        expect((await store.getRun(run.runId))!).toMatchObject({ status: "suspended", wakeAt: clock });
        clock += 1;
        expect((await store.claimRun(run.runId, "owner-2", clock + LEASE, clock))?.wakeAt).toBeNull();
        await store.appendFrames(run.runId, 2, [], { suspend: { wakeAt: clock + 60_000 } });
        expect((await store.getRun(run.runId))!.wakeAt).toBe(clock + 60_000);
      });

      it("drops the waits of a run that finishes", async () => {
        const run = await createRun();
        const step = waitingStep("never", undefined, clock + 60_000);
        await store.appendFrames(run.runId, 1, [], { step });
        await store.appendFrames(run.runId, 1, [{ type: "result", payload: "{}" }], { finish: { status: "succeeded", response } });
        expect(await store.deliverEvent({ name: "never" }, clock + 1)).toEqual([]);
        expect(await store.listSteps(run.runId)).toEqual([step]);
        expect((await store.getRun(run.runId))!.wakeAt).toBeNull();
      });

      it("stops waiting when the waiting entry is rewritten to another status", async () => {
        const { runId, step } = await waitingRun("timeout-me", undefined, clock + 1_000);
        clock += 1_000;
        await store.claimRun(runId, "owner-2", clock + LEASE, clock);
        const timedOut: StepRecord = { ...step, status: "succeeded", output: "null" };
        await store.appendFrames(runId, 2, [], { step: timedOut });
        expect(await store.deliverEvent({ name: "timeout-me", data: 1 }, clock - 500)).toEqual([]);
        expect(await store.listSteps(runId)).toEqual([timedOut]);
        expect((await store.getRun(runId))!.wakeAt).toBeNull();
      });

      it("registers a wait written again after it was delivered", async () => {
        const { runId, step } = await waitingRun("again", undefined, clock + 60_000);
        expect(await store.deliverEvent({ name: "again", data: 1 }, clock)).toEqual([runId]);
        clock += 10;
        await store.claimRun(runId, "owner-2", clock + LEASE, clock);
        const next = waitingStep("again", undefined, clock + 60_000, 1);
        await store.appendFrames(runId, 2, [], { step: next, suspend: { wakeAt: clock + 60_000 } });
        expect(await store.deliverEvent({ name: "again", data: 2 }, clock)).toEqual([runId]);
        const steps = await store.listSteps(runId);
        expect(steps.map((entry) => entry.output)).toEqual([JSON.stringify({ name: "again", data: 1 }), JSON.stringify({ name: "again", data: 2 })]);
        expect(steps[0]!.hashedStepId).toBe(step.hashedStepId);
      });
    });

    describe("quiet points and getRunSummary", () => {
      const outsideData = (text: string): FrameToAppend => ({ type: "data", payload: `{"step":null,"data":${JSON.stringify(text)}}` });
      const outsideCommit: FrameToAppend = { type: "commit", payload: '{"step":null}' };
      const outsideRollback: FrameToAppend = { type: "rollback", payload: '{"step":null,"attempt":1,"willRetry":true,"error":{"name":"E","message":"m"}}' };
      const stepData = (text: string): FrameToAppend => ({ type: "data", payload: `{"step":"${hashedId(7)}","data":${JSON.stringify(text)}}` });
      const stepCommit: FrameToAppend = { type: "commit", payload: `{"step":"${hashedId(7)}"}` };
      const marks = [
        { hashedStepId: null, attempt: 2 },
        { hashedStepId: hashedId(3), attempt: 1 },
      ];

      it("has no quiet point on a new run; an append with quiet records one at the end of the log, with its marks", async () => {
        const run = await createRun();
        expect((await store.getRun(run.runId))!.quiet).toBeUndefined();
        await store.appendFrames(run.runId, 1, dataFrames(3));
        expect(await store.appendFrames(run.runId, 1, [outsideRollback], { quiet: { rollbacks: marks } })).toBe("1-4");
        const quiet = { offset: "1-4", rollbacks: marks };
        expect((await store.getRun(run.runId))!.quiet).toEqual(quiet);
        expect(await store.readFrames(run.runId, quiet.offset, 10)).toEqual([]);
        await store.appendFrames(run.runId, 1, dataFrames(2, "later"));
        expect(entriesOf(await store.readFrames(run.runId, quiet.offset, 10)).map((entry) => entry.offset)).toEqual(["1-5", "1-6"]);
        expect((await store.getRun(run.runId))!.quiet).toEqual(quiet);
      });

      it("puts the quiet point of an append without frames at the log's end in the run's epoch, and hands it out with the claim", async () => {
        const run = await createRun();
        await store.appendFrames(run.runId, 1, dataFrames(3), { suspend: { wakeAt: clock } });
        const claimed = (await store.claimRun(run.runId, "owner-2", clock + LEASE, clock))!;
        expect(claimed.quiet).toEqual({ offset: "1-3", rollbacks: [] });
        expect(await store.appendFrames(run.runId, 2, [], { quiet: { rollbacks: marks } })).toBe("");
        const record = (await store.getRun(run.runId))!;
        expect(record.quiet).toEqual({ offset: "2-3", rollbacks: marks });
        expect(record.frameCount).toBe(3);
        expect(await store.appendFrames(run.runId, 2, dataFrames(1, "new"))).toBe("2-4");
        expect(entriesOf(await store.readFrames(run.runId, record.quiet!.offset, 10))).toEqual([{ offset: "2-4", type: "data", payload: dataPayload("new0") }]);
      });

      it("moves the quiet point to the end of the log on a suspension, keeping its marks", async () => {
        const run = await createRun();
        await store.appendFrames(run.runId, 1, [stepData("a"), stepCommit], { quiet: { rollbacks: marks } });
        await store.appendFrames(run.runId, 1, [stepData("b"), stepCommit, outsideData("c"), outsideCommit], { suspend: { wakeAt: clock + 1_000 } });
        expect((await store.getRun(run.runId))!.quiet).toEqual({ offset: "1-6", rollbacks: marks });
        clock += 1_000;
        await store.claimRun(run.runId, "owner-2", clock + LEASE, clock);
        await store.appendFrames(run.runId, 2, [stepData("d")]);
        await store.appendFrames(run.runId, 2, [], { suspend: { wakeAt: clock + 1_000 } });
        expect((await store.getRun(run.runId))!.quiet).toEqual({ offset: "2-7", rollbacks: marks });
      });

      it("records a quiet point with no marks on the first suspension", async () => {
        const run = await createRun();
        await store.appendFrames(run.runId, 1, dataFrames(2), { suspend: { wakeAt: clock + 1_000 } });
        expect((await store.getRun(run.runId))!.quiet).toEqual({ offset: "1-2", rollbacks: [] });
      });

      it("leaves the quiet point where it is on a suspension while outside-step chunks are pending", async () => {
        const run = await createRun();
        await store.appendFrames(run.runId, 1, [outsideData("a"), stepData("b"), stepCommit], { suspend: { wakeAt: clock } });
        expect((await store.getRun(run.runId))!.quiet).toBeUndefined();
        // Still pending in the next epoch: a step's commit ends nothing outside steps.
        await store.claimRun(run.runId, "owner-2", clock + LEASE, clock);
        await store.appendFrames(run.runId, 2, [stepData("c"), stepCommit], { suspend: { wakeAt: clock } });
        expect((await store.getRun(run.runId))!.quiet).toBeUndefined();
        // An outside-step commit ends them.
        await store.claimRun(run.runId, "owner-3", clock + LEASE, clock);
        await store.appendFrames(run.runId, 3, [outsideCommit], { suspend: { wakeAt: clock } });
        expect((await store.getRun(run.runId))!.quiet).toEqual({ offset: "3-6", rollbacks: [] });
        // So does an outside-step rollback; data of the same append after it is pending again.
        await store.claimRun(run.runId, "owner-4", clock + LEASE, clock);
        await store.appendFrames(run.runId, 4, [outsideData("d"), outsideRollback, outsideData("e")], { suspend: { wakeAt: clock } });
        expect((await store.getRun(run.runId))!.quiet).toEqual({ offset: "3-6", rollbacks: [] });
        await store.claimRun(run.runId, "owner-5", clock + LEASE, clock);
        await store.appendFrames(run.runId, 5, [outsideData("f"), outsideRollback], { suspend: { wakeAt: clock } });
        expect((await store.getRun(run.runId))!.quiet).toEqual({ offset: "5-11", rollbacks: [] });
      });

      it("ends pending outside-step chunks with an append that records a quiet point", async () => {
        const run = await createRun();
        await store.appendFrames(run.runId, 1, [outsideData("a")], { suspend: { wakeAt: clock } });
        await store.claimRun(run.runId, "owner-2", clock + LEASE, clock);
        await store.appendFrames(run.runId, 2, [], { quiet: { rollbacks: [] } });
        expect((await store.getRun(run.runId))!.quiet).toEqual({ offset: "2-1", rollbacks: [] });
        await store.appendFrames(run.runId, 2, [stepData("b"), stepCommit], { suspend: { wakeAt: clock } });
        expect((await store.getRun(run.runId))!.quiet).toEqual({ offset: "2-3", rollbacks: [] });
      });

      it("changes no quiet point with a refused append", async () => {
        const run = await createRun();
        await store.appendFrames(run.runId, 1, dataFrames(1), { quiet: { rollbacks: [] } });
        await expectRefused(store.appendFrames(run.runId, 2, dataFrames(1), { quiet: { rollbacks: marks } }), "fenced");
        await expectRefused(store.appendFrames(run.runId, 2, [], { suspend: { wakeAt: clock } }), "fenced");
        expect((await store.getRun(run.runId))!.quiet).toEqual({ offset: "1-1", rollbacks: [] });
      });

      it("reads the run without its request with getRunSummary (stores that have it)", async () => {
        if (store.getRunSummary === undefined) return;
        const withoutRequest = ({ request: _request, ...summary }: RunRecord) => summary;
        const run = await createRun({ request: base64Request });
        expect(await store.getRunSummary(run.runId)).toEqual(withoutRequest(run));
        await store.appendFrames(run.runId, 1, [outsideData("a"), outsideCommit], { outsideCommitted: 1, quiet: { rollbacks: marks } });
        let summary = await store.getRunSummary(run.runId);
        expect(summary).not.toHaveProperty("request");
        expect(summary).toEqual(withoutRequest((await store.getRun(run.runId))!));
        await store.appendFrames(run.runId, 1, [{ type: "result", payload: "{}" }], { finish: { status: "succeeded", response } });
        summary = await store.getRunSummary(run.runId);
        expect(summary).toMatchObject({ status: "succeeded", result: response, frameCount: 3, quiet: { offset: "1-2", rollbacks: marks } });
        expect(summary).toEqual(withoutRequest((await store.getRun(run.runId))!));
        expect(await store.getRunSummary("no-such-run")).toBeUndefined();
        clock += RETENTION;
        expect(await store.getRunSummary(run.runId)).toBeUndefined();
      });
    });

    describe("retention", () => {
      it("keeps a finished run for retention after it finished, then forgets it", async () => {
        const run = await createRun({ leaseExpiresAt: clock + 10 * RETENTION });
        clock += 5 * RETENTION; // retention counts from the finish, not from the creation
        await store.appendFrames(run.runId, 1, dataFrames(2), { step: runStep(0) });
        await store.appendFrames(run.runId, 1, [{ type: "result", payload: "{}" }], { finish: { status: "succeeded", response } });
        const finishedAt = clock;

        clock = finishedAt + RETENTION - 1;
        expect((await store.getRun(run.runId))?.status).toBe("succeeded");
        expect(await store.readFrames(run.runId, undefined, 10)).toHaveLength(3);
        expect(await store.listSteps(run.runId)).toHaveLength(1);

        clock = finishedAt + RETENTION;
        expect(await store.getRun(run.runId)).toBeUndefined();
        await expectRefused(store.readFrames(run.runId, undefined, 10), "unknown-run");
        expect(await store.listSteps(run.runId)).toEqual([]);
        await expectRefused(store.appendFrames(run.runId, 1, dataFrames(1)), "unknown-run");
        expect(await store.claimRun(run.runId, "owner-2", clock + LEASE, clock)).toBeUndefined();
        expect(await store.renewLease(run.runId, "owner-1", 1, clock + LEASE)).toBe(false);

        clock += 10 * RETENTION;
        expect(await store.getRun(run.runId)).toBeUndefined();
      });

      it("expires failed runs too, each from its own finish", async () => {
        const first = await createRun();
        await store.appendFrames(first.runId, 1, [], { finish: { status: "failed", response } });
        clock += RETENTION / 2;
        const second = await createRun();
        await store.appendFrames(second.runId, 1, [], { finish: { status: "failed", response } });
        clock = START + RETENTION;
        expect(await store.getRun(first.runId)).toBeUndefined();
        expect((await store.getRun(second.runId))?.status).toBe("failed");
        clock = START + RETENTION / 2 + RETENTION;
        expect(await store.getRun(second.runId)).toBeUndefined();
      });

      it("never expires running or suspended runs", async () => {
        const running = await createRun({ leaseExpiresAt: clock + 1_000 });
        const suspended = await suspendedRun(clock + 100 * RETENTION, 2);
        const waiting = await waitingRun("late", undefined, clock + 100 * RETENTION);
        clock += 50 * RETENTION;
        expect((await store.getRun(running.runId))?.status).toBe("running");
        expect((await store.getRun(suspended.runId))?.status).toBe("suspended");
        expect(await store.readFrames(suspended.runId, undefined, 10)).toHaveLength(2);
        expect(await store.appendFrames(running.runId, 1, dataFrames(1))).toBe("1-1");
        expect(await store.deliverEvent({ name: "late" }, clock)).toEqual([waiting.runId]);
        expect((await store.claimRun(running.runId, "owner-2", clock + LEASE, clock))?.epoch).toBe(2);
      });
    });
  });
}

function newRunOf(run: RunRecord): NewRun {
  const { runId, endpointId, createdAt, request, owner, leaseExpiresAt } = run;
  return { runId, endpointId, createdAt, request, owner: owner ?? "owner-1", leaseExpiresAt };
}

/** Waits long enough for a store's asynchronous notifications (if any) to arrive. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, SETTLE_MILLISECONDS));
}

async function expectRefused(promise: Promise<unknown>, reason: StoreErrorReason): Promise<void> {
  const outcome = await promise.then(
    (value) => ({ resolved: true as const, value }),
    (error: unknown) => ({ resolved: false as const, error }),
  );
  expect(outcome.resolved, `expected a StoreRefusedError (${reason}), but the call resolved`).toBe(false);
  const { error } = outcome as { error: unknown };
  expect(StoreRefusedError.isInstance(error), `expected a StoreRefusedError (${reason}), got ${String(error)}`).toBe(true);
  expect((error as StoreRefusedError).reason).toBe(reason);
}

/** The fields of log entries that the interface defines. */
function entriesOf(entries: readonly LogEntry[]): LogEntry[] {
  return entries.map(({ offset, type, payload }) => ({ offset, type, payload }));
}

function bySequence(a: string, b: string): number {
  return Number(a.split("-")[1]) - Number(b.split("-")[1]);
}

function dataPayload(text: string): string {
  return JSON.stringify({ hashedStepId: null, data: text });
}

function dataFrames(count: number, prefix = "f"): FrameToAppend[] {
  return Array.from({ length: count }, (_, index) => ({ type: "data" as LogFrameType, payload: dataPayload(`${prefix}${index}`) }));
}

function hashedId(position: number): string {
  return position.toString(16).padStart(8, "0").repeat(5);
}

function runStep(position: number, overrides: Partial<StepRecord> = {}): StepRecord {
  return {
    hashedStepId: hashedId(position),
    stepId: `step-${position}`,
    position,
    kind: "run",
    status: "succeeded",
    output: JSON.stringify({ position }),
    attempts: 1,
    ...overrides,
  };
}

function waitingStep(event: string, match: Record<string, unknown> | undefined, deadline: number | undefined, position = 0): StepRecord {
  return {
    hashedStepId: hashedId(100 + position),
    stepId: `wait-${position}`,
    position,
    kind: "wait-for-event",
    status: "waiting",
    attempts: 0,
    event,
    ...(match === undefined ? {} : { match }),
    ...(deadline === undefined ? {} : { wakeAt: deadline }),
  };
}

const base64Request: RequestSnapshot = {
  method: "POST",
  url: "https://app.example/api/upload?name=r%C3%A9sum%C3%A9.pdf&x=1",
  headers: [
    ["x-zeta", "last-alphabetically, first"],
    ["content-type", "application/octet-stream"],
    ["x-alpha", "ünïcødé value"],
    ["x-zeta", "repeated"],
  ],
  body: "AAECA/7/gICAJVBERi0xLjQK8J+YgA==",
  bodyEncoding: "base64",
};

const textRequest: RequestSnapshot = {
  method: "POST",
  url: "https://app.example/api/chat",
  headers: [["content-type", "application/json"]],
  body: JSON.stringify({ prompt: "Say hi — 你好 😀", lines: "a\nb\r\nc" }),
  bodyEncoding: "text",
};

const emptyRequest: RequestSnapshot = {
  method: "GET",
  url: "https://app.example/api/chat?q=1",
  headers: [],
  body: null,
  bodyEncoding: "text",
};

const response: ResponseSnapshot = {
  status: 201,
  statusText: "Created",
  headers: [
    ["x-z", "1"],
    ["content-type", "application/json"],
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2"],
  ],
  body: '{"ok":true,"text":"😀"}',
  bodyEncoding: "text",
};

