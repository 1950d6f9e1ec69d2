import type { ResponseSnapshot } from "@durastream/protocol";
import { describe, expect, it, vi } from "vitest";
import type { StepRecord } from "@durastream/server/store";
import { LEASE, expectRefused, entriesOf, bySequence, dataPayload, dataFrames, hashedId, runStep, waitingStep, response } from "./fixtures.js";
import type { ConformanceHarness } from "./harness.js";

/** Appending frames and its effects (the step journal, suspending, finishing, times), and the writes a store refuses (fencing, over runs, unknown runs). */
export function describeAppendFrames(t: ConformanceHarness): void {
  const { createRun, observe } = t;
  describe("appendFrames", () => {
    it('gives offsets 1-1, 1-2, … and resolves with the last one ("" for no frames)', async () => {
      const run = await createRun();
      expect(await t.store.appendFrames(run.runId, 1, dataFrames(1, "a"))).toBe("1-1");
      expect(await t.store.appendFrames(run.runId, 1, dataFrames(3, "b"))).toBe("1-4");
      expect(await t.store.appendFrames(run.runId, 1, [])).toBe("");
      expect(await t.store.appendFrames(run.runId, 1, dataFrames(1, "c"))).toBe("1-5");
      const entries = await t.store.readFrames(run.runId, undefined, 100);
      expect(entries.map((entry) => entry.offset)).toEqual(["1-1", "1-2", "1-3", "1-4", "1-5"]);
      expect(entries.map((entry) => entry.payload)).toEqual(["a0", "b0", "b1", "b2", "c0"].map(dataPayload));
    });

    it("counts frames and their payload lengths in UTF-16 code units", async () => {
      const run = await createRun();
      const payloads = ['{"text":"héllo"}', '{"text":"😀 你好"}', "{}"];
      await t.store.appendFrames(run.runId, 1, [{ type: "data", payload: payloads[0]! }]);
      let record = (await t.store.getRun(run.runId))!;
      expect(record.frameCount).toBe(1);
      expect(record.logBytes).toBe(payloads[0]!.length);
      await t.store.appendFrames(run.runId, 1, [
        { type: "data", payload: payloads[1]! },
        { type: "commit", payload: payloads[2]! },
      ]);
      record = (await t.store.getRun(run.runId))!;
      expect(record.frameCount).toBe(3);
      expect(record.logBytes).toBe(payloads.reduce((sum, payload) => sum + payload.length, 0));
      expect(record.logBytes).toBe(16 + 16 + 2); // UTF-16 code units: "😀" counts 2 (not 4 bytes, not 1 code point)
    });

    it("gives concurrent appends distinct offsets without gaps", async () => {
      const run = await createRun();
      const offsets = await Promise.all(
        Array.from({ length: 20 }, (_, index) => t.store.appendFrames(run.runId, 1, [{ type: "data", payload: dataPayload(`p${index}`) }])),
      );
      expect([...offsets].sort(bySequence)).toEqual(Array.from({ length: 20 }, (_, index) => `1-${index + 1}`));
      const entries = await t.store.readFrames(run.runId, undefined, 100);
      expect(entries.map((entry) => entry.offset)).toEqual(Array.from({ length: 20 }, (_, index) => `1-${index + 1}`));
      for (const [index, offset] of offsets.entries()) {
        expect(entries.find((entry) => entry.offset === offset)!.payload).toBe(dataPayload(`p${index}`));
      }
      expect((await t.store.getRun(run.runId))!.frameCount).toBe(20);
    });

    it("upserts journal entries by hashedStepId and lists them by position, not by write order", async () => {
      const run = await createRun();
      const second = runStep(1, { status: "retrying", output: undefined, attempts: 1, error: { name: "TypeError", message: "boom ✗" }, wakeAt: t.clock + 500 });
      const third = runStep(2, { output: '{"n":3}' });
      const first = runStep(0, { output: '"first"' });
      await t.store.appendFrames(run.runId, 1, dataFrames(1), { step: second });
      await t.store.appendFrames(run.runId, 1, [], { step: third });
      await t.store.appendFrames(run.runId, 1, [], { step: first });
      expect(await t.store.listSteps(run.runId)).toEqual([first, second, third]);

      const secondDone: StepRecord = { ...runStep(1, { output: '{"attempt":2}', attempts: 2 }) };
      await t.store.appendFrames(run.runId, 1, dataFrames(1), { step: secondDone });
      const steps = await t.store.listSteps(run.runId);
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
        { hashedStepId: hashedId(3), stepId: "nap", position: 3, kind: "sleep", status: "sleeping", attempts: 0, wakeAt: t.clock + 30_000 },
        waitingStep("order/paid", { "data.orderId": "o1", "data.items": [{ sku: "a" }] }, t.clock + 60_000, 4),
        { hashedStepId: hashedId(5), stepId: "slept", position: 5, kind: "sleep", status: "succeeded", attempts: 0, wakeAt: t.clock - 1 },
        // An attempt put on record before it runs, with the retries its step may make.
        runStep(6, { status: "running", output: undefined, attempts: 2, retries: 7 }),
      ];
      for (const entry of entries) await t.store.appendFrames(run.runId, 1, [], { step: entry });
      const listed = await t.store.listSteps(run.runId);
      expect(listed).toEqual(entries);
      expect(listed[2]!.output).toBeUndefined();
      expect(listed[0]!.error).toBeUndefined();
    });

    it("sets outsideCommitted", async () => {
      const run = await createRun();
      await t.store.appendFrames(run.runId, 1, dataFrames(3), { outsideCommitted: 2 });
      expect((await t.store.getRun(run.runId))!.outsideCommitted).toBe(2);
      await t.store.appendFrames(run.runId, 1, dataFrames(1));
      expect((await t.store.getRun(run.runId))!.outsideCommitted).toBe(2);
      await t.store.appendFrames(run.runId, 1, [], { outsideCommitted: 4 });
      expect((await t.store.getRun(run.runId))!.outsideCommitted).toBe(4);
    });

    it("finishes a run: status, result, owner and wakeAt cleared, result frame in the log", async () => {
      const run = await createRun();
      const offset = await t.store.appendFrames(run.runId, 1, [...dataFrames(2), { type: "result", payload: '{"type":"result"}' }], {
        finish: { status: "succeeded", response },
      });
      expect(offset).toBe("1-3");
      const record = (await t.store.getRun(run.runId))!;
      expect(record.status).toBe("succeeded");
      expect(record.result).toEqual(response);
      expect(record.owner).toBeNull();
      expect(record.wakeAt).toBeNull();
      expect(record.epoch).toBe(1);
      expect(record.frameCount).toBe(3);
      const [last] = entriesOf(await t.store.readFrames(run.runId, "1-2", 10));
      expect(last).toEqual({ offset: "1-3", type: "result", payload: '{"type":"result"}' });
    });

    it("finishes a run as failed, with a base64 response body", async () => {
      const run = await createRun();
      const failed: ResponseSnapshot = { status: 500, statusText: "Internal Server Error", headers: [], body: "AAEC/w==", bodyEncoding: "base64" };
      await t.store.appendFrames(run.runId, 1, [{ type: "result", payload: "{}" }], { finish: { status: "failed", response: failed } });
      const record = (await t.store.getRun(run.runId))!;
      expect(record.status).toBe("failed");
      expect(record.result).toEqual(failed);
    });

    it("suspends a run: status suspended, wakeAt set, owner cleared, frames of the same call stored", async () => {
      const run = await createRun();
      const step: StepRecord = {
        hashedStepId: hashedId(0),
        stepId: "nap",
        position: 0,
        kind: "sleep",
        status: "sleeping",
        attempts: 0,
        wakeAt: t.clock + 5_000,
      };
      const offset = await t.store.appendFrames(run.runId, 1, dataFrames(2), { step, suspend: { wakeAt: t.clock + 5_000 } });
      expect(offset).toBe("1-2");
      const record = (await t.store.getRun(run.runId))!;
      expect(record.status).toBe("suspended");
      expect(record.wakeAt).toBe(t.clock + 5_000);
      expect(record.owner).toBeNull();
      expect(record.epoch).toBe(1);
      expect(record.frameCount).toBe(2);
      expect(await t.store.listSteps(run.runId)).toEqual([step]);
    });

    it('stores fractional times as whole milliseconds, rounded up (step.sleep("x", 10.5), "0.0015s")', async () => {
      const run = await createRun({ createdAt: t.clock + 0.25, leaseExpiresAt: t.clock + LEASE + 0.5 });
      const created = (await t.store.getRun(run.runId))!;
      expect(created.createdAt).toBe(t.clock + 1);
      expect(created.leaseExpiresAt).toBe(t.clock + LEASE + 1);
      const step: StepRecord = { hashedStepId: hashedId(0), stepId: "x", position: 0, kind: "sleep", status: "sleeping", attempts: 0, wakeAt: t.clock + 10.5 };
      await t.store.appendFrames(run.runId, 1, dataFrames(1), { step, suspend: { wakeAt: t.clock + 1.5 } });
      const record = (await t.store.getRun(run.runId))!;
      expect(record.wakeAt).toBe(t.clock + 2);
      expect(await t.store.nextWakeAt()).toBe(t.clock + 2);
      expect((await t.store.listSteps(run.runId))[0]!.wakeAt).toBe(t.clock + 11);
      // Not due before the rounded-up time; due at it.
      expect(await t.store.claimRun(run.runId, "owner-2", t.clock + 1.5, t.clock + 1.75)).toBeUndefined();
      const claimed = (await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE + 0.1, t.clock + 2))!;
      expect(claimed.leaseExpiresAt).toBe(t.clock + LEASE + 1);
      expect(await t.store.renewLease(run.runId, "owner-2", claimed.epoch, t.clock + LEASE + 7.2)).toBe(true);
      expect((await t.store.getRun(run.runId))!.leaseExpiresAt).toBe(t.clock + LEASE + 8);
    });

    it("applies effects given with zero frames", async () => {
      const run = await createRun();
      await t.store.appendFrames(run.runId, 1, dataFrames(2));
      const step = runStep(0, { output: "42" });
      expect(await t.store.appendFrames(run.runId, 1, [], { step, outsideCommitted: 2 })).toBe("");
      let record = (await t.store.getRun(run.runId))!;
      expect(record).toMatchObject({ outsideCommitted: 2, frameCount: 2, status: "running" });
      expect(await t.store.listSteps(run.runId)).toEqual([step]);
      expect(await t.store.appendFrames(run.runId, 1, [], { finish: { status: "succeeded", response } })).toBe("");
      record = (await t.store.getRun(run.runId))!;
      expect(record).toMatchObject({ status: "succeeded", frameCount: 2, owner: null });
      expect(record.result).toEqual(response);
    });

    it("makes frames and effects visible together by the time subscribers are told", async () => {
      const run = await createRun();
      const seen: Array<{ offsets: string[]; outsideCommitted: number | undefined; steps: number }> = [];
      const unsubscribe = t.store.subscribe(run.runId, () => {
        void Promise.all([t.store.readFrames(run.runId, undefined, 100), t.store.getRun(run.runId), t.store.listSteps(run.runId)]).then(
          ([entries, record, steps]) => {
            seen.push({ offsets: entries.map((entry) => entry.offset), outsideCommitted: record?.outsideCommitted, steps: steps.length });
          },
        );
      });
      await t.store.appendFrames(run.runId, 1, dataFrames(2), { step: runStep(0), outsideCommitted: 1 });
      await vi.waitFor(() => expect(seen.length).toBeGreaterThan(0), { timeout: 5_000, interval: 5 });
      expect(seen[0]).toEqual({ offsets: ["1-1", "1-2"], outsideCommitted: 1, steps: 1 });
      unsubscribe();
    });
  });

  describe("refused writes", () => {
    it("refuses a write from another epoch as fenced, and changes nothing", async () => {
      const run = await createRun();
      await t.store.appendFrames(run.runId, 1, dataFrames(2), { step: runStep(0), outsideCommitted: 1 });
      const before = await observe(run.runId);
      for (const epoch of [0, 2, 7]) {
        await expectRefused(
          t.store.appendFrames(run.runId, epoch, dataFrames(3, "x"), {
            step: runStep(0, { status: "failed", error: { name: "Error", message: "x" } }),
            outsideCommitted: 9,
            finish: { status: "failed", response },
          }),
          "fenced",
        );
        await expectRefused(t.store.appendFrames(run.runId, epoch, [], { suspend: { wakeAt: t.clock } }), "fenced");
      }
      expect(await observe(run.runId)).toEqual(before);
      expect(await t.store.appendFrames(run.runId, 1, dataFrames(1))).toBe("1-3");
    });

    it("refuses a write to a finished run as over, and changes nothing", async () => {
      const run = await createRun();
      await t.store.appendFrames(run.runId, 1, [{ type: "result", payload: "{}" }], { step: runStep(0), finish: { status: "succeeded", response } });
      const before = await observe(run.runId);
      await expectRefused(t.store.appendFrames(run.runId, 1, dataFrames(1)), "over");
      await expectRefused(t.store.appendFrames(run.runId, 1, [], { step: runStep(1), outsideCommitted: 5 }), "over");
      await expectRefused(t.store.appendFrames(run.runId, 1, [], { suspend: { wakeAt: t.clock + 1 } }), "over");
      await expectRefused(
        t.store.appendFrames(run.runId, 1, [{ type: "result", payload: "{}" }], {
          finish: { status: "failed", response: { ...response, status: 500 } },
        }),
        "over",
      );
      expect(await observe(run.runId)).toEqual(before);
    });

    it("refuses a write to an unknown run as unknown-run, and creates nothing", async () => {
      await expectRefused(t.store.appendFrames("no-such-run", 1, dataFrames(1), { step: runStep(0) }), "unknown-run");
      await expectRefused(t.store.appendFrames("no-such-run", 1, []), "unknown-run");
      expect(await t.store.getRun("no-such-run")).toBeUndefined();
    });

    it("rejects reads of an unknown run's log as unknown-run; its journal is empty", async () => {
      await expectRefused(t.store.readFrames("no-such-run", undefined, 10), "unknown-run");
      await expectRefused(t.store.readFrames("no-such-run", "1-1", 10), "unknown-run");
      expect(await t.store.listSteps("no-such-run")).toEqual([]);
    });
  });
}
