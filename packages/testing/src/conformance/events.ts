import { describe, expect, it, vi } from "vitest";
import type { StepRecord } from "@durastream/server/store";
import { START, LEASE, waitingStep, response } from "./fixtures.js";
import type { ConformanceHarness } from "./harness.js";

/** Delivering events to runs waiting for them. */
export function describeEvents(t: ConformanceHarness): void {
  const { createRun, waitingRun } = t;
  describe("deliverEvent", () => {
    it("delivers a matching event to a waiting step and wakes its run", async () => {
      const { runId, step } = await waitingRun("order/paid", { "data.orderId": "o1" }, t.clock + 60_000);
      t.clock += 1_000;
      const data = { orderId: "o1", amount: 12.5, note: "ünïcødé" };
      expect(await t.store.deliverEvent({ name: "order/paid", data }, t.clock)).toEqual([runId]);
      const [entry] = await t.store.listSteps(runId);
      expect(entry).toMatchObject({ hashedStepId: step.hashedStepId, stepId: step.stepId, position: 0, kind: "wait-for-event", status: "succeeded" });
      expect(entry!.output).toBe(JSON.stringify({ name: "order/paid", data }));
      const record = (await t.store.getRun(runId))!;
      expect(record.wakeAt).toBe(t.clock);
      expect(record.status).toBe("suspended");
      expect((await t.store.listResumableRuns(t.clock, 10)).map((resumable) => resumable.runId)).toEqual([runId]);
      expect(await t.store.nextWakeAt()).toBe(t.clock);
      expect((await t.store.claimRun(runId, "owner-2", t.clock + LEASE, t.clock))?.epoch).toBe(2);
    });

    it("notifies the subscribers of each woken run, and only of those", async () => {
      const woken = await waitingRun("order/paid", undefined, t.clock + 60_000);
      const other = await waitingRun("order/shipped", undefined, t.clock + 60_000);
      let wokenCalls = 0;
      let otherCalls = 0;
      const stopWoken = t.store.subscribe(woken.runId, () => (wokenCalls += 1));
      const stopOther = t.store.subscribe(other.runId, () => (otherCalls += 1));
      await t.store.deliverEvent({ name: "order/paid" }, t.clock);
      await vi.waitFor(() => expect(wokenCalls).toBeGreaterThan(0), { timeout: 2_000, interval: 5 });
      expect(otherCalls).toBe(0);
      stopWoken();
      stopOther();
    });

    it("matches on the event name and on every path of match, with deep equality", async () => {
      const deep = await waitingRun("order/paid", { "data.order.id": "o1", "data.items": [{ sku: "a", qty: 2 }] }, t.clock + 60_000);
      const plain = await waitingRun("order/paid", undefined, t.clock + 60_000);
      const empty = await waitingRun("order/shipped", {}, t.clock + 60_000);
      const before = await t.store.listSteps(deep.runId);

      expect(await t.store.deliverEvent({ name: "order/refunded", data: { order: { id: "o1" }, items: [{ sku: "a", qty: 2 }] } }, t.clock)).toEqual([]);
      expect(await t.store.deliverEvent({ name: "order/paid", data: { order: { id: "o2" }, items: [{ sku: "a", qty: 2 }] } }, t.clock + 1)).toEqual([
        plain.runId,
      ]);
      expect(await t.store.listSteps(deep.runId)).toEqual(before);
      expect((await t.store.getRun(deep.runId))!.wakeAt).toBe(START + 60_000);
      expect(await t.store.deliverEvent({ name: "order/paid", data: { order: { id: "o1" }, items: [{ sku: "a", qty: 3 }] } }, t.clock + 2)).toEqual([]);
      expect(await t.store.deliverEvent({ name: "order/paid", data: { order: { id: "o1" } } }, t.clock + 3)).toEqual([]);
      expect(await t.store.listSteps(deep.runId)).toEqual(before);

      const data = { order: { id: "o1", total: 3 }, items: [{ qty: 2, sku: "a" }] };
      expect(await t.store.deliverEvent({ name: "order/paid", data }, t.clock + 4)).toEqual([deep.runId]);
      expect((await t.store.listSteps(deep.runId))[0]!.output).toBe(JSON.stringify({ name: "order/paid", data }));
      expect(await t.store.deliverEvent({ name: "order/shipped" }, t.clock + 5)).toEqual([empty.runId]);
      expect((await t.store.listSteps(empty.runId))[0]!.output).toBe(JSON.stringify({ name: "order/shipped", data: null }));
    });

    it("does not deliver at or after the deadline (up to a millisecond before it)", async () => {
      const late = await waitingRun("approval", undefined, t.clock + 1_000);
      const exact = await waitingRun("approval", undefined, t.clock + 2_000);
      const inTime = await waitingRun("approval", undefined, t.clock + 2_001);
      t.clock += 2_000;
      expect(await t.store.deliverEvent({ name: "approval", data: true }, t.clock)).toEqual([inTime.runId]);
      for (const { runId, step } of [late, exact]) {
        expect(await t.store.listSteps(runId)).toEqual([step]);
        expect((await t.store.getRun(runId))!.wakeAt).toBe(step.wakeAt);
      }
      expect((await t.store.listSteps(inTime.runId))[0]!.output).toBe(JSON.stringify({ name: "approval", data: true }));
    });

    it("delivers a wait without a deadline at any time", async () => {
      const { runId } = await waitingRun("someday", undefined, undefined);
      t.clock += 365 * 86_400_000;
      expect(await t.store.deliverEvent({ name: "someday", data: 1 }, t.clock)).toEqual([runId]);
      expect((await t.store.listSteps(runId))[0]!.status).toBe("succeeded");
    });

    it("delivers once: a second identical event wakes nothing", async () => {
      const { runId } = await waitingRun("ping", undefined, t.clock + 60_000);
      expect(await t.store.deliverEvent({ name: "ping", data: { n: 1 } }, t.clock + 1)).toEqual([runId]);
      expect(await t.store.deliverEvent({ name: "ping", data: { n: 1 } }, t.clock + 2)).toEqual([]);
      const [entry] = await t.store.listSteps(runId);
      expect(entry!.output).toBe(JSON.stringify({ name: "ping", data: { n: 1 } }));
      expect((await t.store.getRun(runId))!.wakeAt).toBe(t.clock + 1);
    });

    it("wakes every run waiting for the event, each once", async () => {
      const first = await waitingRun("broadcast", undefined, t.clock + 60_000);
      const second = await waitingRun("broadcast", { "data.kind": "news" }, t.clock + 60_000);
      const other = await waitingRun("broadcast", { "data.kind": "sports" }, t.clock + 60_000);
      const twice = await createRun();
      await t.store.appendFrames(twice.runId, 1, [], { step: waitingStep("broadcast", undefined, t.clock + 60_000, 0) });
      await t.store.appendFrames(twice.runId, 1, [], {
        step: waitingStep("broadcast", { "data.kind": "news" }, t.clock + 60_000, 1),
        suspend: { wakeAt: t.clock + 60_000 },
      });
      t.clock += 5;
      const woken = await t.store.deliverEvent({ name: "broadcast", data: { kind: "news" } }, t.clock);
      expect([...woken].sort()).toEqual([first.runId, second.runId, twice.runId].sort());
      expect(woken).toHaveLength(3);
      for (const runId of [first.runId, second.runId, twice.runId]) {
        expect((await t.store.getRun(runId))!.wakeAt).toBe(t.clock);
        for (const entry of await t.store.listSteps(runId)) expect(entry.status).toBe("succeeded");
      }
      expect((await t.store.listSteps(other.runId))[0]!.status).toBe("waiting");
    });

    it("wakes a run that is still running: its next suspension wakes at once", async () => {
      const run = await createRun();
      await t.store.appendFrames(run.runId, 1, [], { step: waitingStep("quick", undefined, t.clock + 60_000) });
      t.clock += 5;
      expect(await t.store.deliverEvent({ name: "quick", data: "fast" }, t.clock)).toEqual([run.runId]);
      const record = (await t.store.getRun(run.runId))!;
      expect(record.status).toBe("running");
      expect(record.wakeAt).toBe(t.clock);
      expect(await t.store.nextWakeAt()).toBeNull(); // only suspended runs count
      await t.store.appendFrames(run.runId, 1, [], { suspend: { wakeAt: t.clock + 60_000 } });
      expect(await t.store.nextWakeAt()).toBe(t.clock);
      expect((await t.store.getRun(run.runId))!).toMatchObject({ status: "suspended", wakeAt: t.clock });
      t.clock += 1;
      expect((await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock))?.wakeAt).toBeNull();
      await t.store.appendFrames(run.runId, 2, [], { suspend: { wakeAt: t.clock + 60_000 } });
      expect((await t.store.getRun(run.runId))!.wakeAt).toBe(t.clock + 60_000);
    });

    it("keeps a run's other waits for the same event name when one of them is delivered", async () => {
      const run = await createRun();
      await t.store.appendFrames(run.runId, 1, [], { step: waitingStep("approval", { "data.id": "a" }, t.clock + 60_000, 0) });
      await t.store.appendFrames(run.runId, 1, [], {
        step: waitingStep("approval", { "data.id": "b" }, t.clock + 60_000, 1),
        suspend: { wakeAt: t.clock + 60_000 },
      });
      t.clock += 5;
      expect(await t.store.deliverEvent({ name: "approval", data: { id: "a" } }, t.clock)).toEqual([run.runId]);
      expect((await t.store.listSteps(run.runId)).map((entry) => entry.status)).toEqual(["succeeded", "waiting"]);
      t.clock += 5;
      expect(await t.store.deliverEvent({ name: "approval", data: { id: "b" } }, t.clock)).toEqual([run.runId]);
      expect((await t.store.listSteps(run.runId)).map((entry) => entry.status)).toEqual(["succeeded", "succeeded"]);
    });

    it("drops the waits of a run that finishes", async () => {
      const run = await createRun();
      const step = waitingStep("never", undefined, t.clock + 60_000);
      await t.store.appendFrames(run.runId, 1, [], { step });
      await t.store.appendFrames(run.runId, 1, [{ type: "result", payload: "{}" }], { finish: { status: "succeeded", response } });
      expect(await t.store.deliverEvent({ name: "never" }, t.clock + 1)).toEqual([]);
      expect(await t.store.listSteps(run.runId)).toEqual([step]);
      expect((await t.store.getRun(run.runId))!.wakeAt).toBeNull();
    });

    it("stops waiting when the waiting entry is rewritten to another status", async () => {
      const { runId, step } = await waitingRun("timeout-me", undefined, t.clock + 1_000);
      t.clock += 1_000;
      await t.store.claimRun(runId, "owner-2", t.clock + LEASE, t.clock);
      const timedOut: StepRecord = { ...step, status: "succeeded", output: "null" };
      await t.store.appendFrames(runId, 2, [], { step: timedOut });
      expect(await t.store.deliverEvent({ name: "timeout-me", data: 1 }, t.clock - 500)).toEqual([]);
      expect(await t.store.listSteps(runId)).toEqual([timedOut]);
      expect((await t.store.getRun(runId))!.wakeAt).toBeNull();
    });

    it("registers a wait written again after it was delivered", async () => {
      const { runId, step } = await waitingRun("again", undefined, t.clock + 60_000);
      expect(await t.store.deliverEvent({ name: "again", data: 1 }, t.clock)).toEqual([runId]);
      t.clock += 10;
      await t.store.claimRun(runId, "owner-2", t.clock + LEASE, t.clock);
      const next = waitingStep("again", undefined, t.clock + 60_000, 1);
      await t.store.appendFrames(runId, 2, [], { step: next, suspend: { wakeAt: t.clock + 60_000 } });
      expect(await t.store.deliverEvent({ name: "again", data: 2 }, t.clock)).toEqual([runId]);
      const steps = await t.store.listSteps(runId);
      expect(steps.map((entry) => entry.output)).toEqual([JSON.stringify({ name: "again", data: 1 }), JSON.stringify({ name: "again", data: 2 })]);
      expect(steps[0]!.hashedStepId).toBe(step.hashedStepId);
    });
  });
}
