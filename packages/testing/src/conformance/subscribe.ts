import { describe, expect, it, vi } from "vitest";
import { LEASE, settle, dataFrames, response } from "./fixtures.js";
import type { ConformanceHarness } from "./harness.js";

/** Live notifications of appended frames. */
export function describeSubscribe(t: ConformanceHarness): void {
  const { createRun, suspendedRun } = t;
  describe("subscribe", () => {
    it("calls a listener after frames are appended, when they are readable", async () => {
      const run = await createRun();
      const reads: string[][] = [];
      const unsubscribe = t.store.subscribe(run.runId, () => {
        void t.store.readFrames(run.runId, undefined, 100).then((entries) => reads.push(entries.map((entry) => entry.offset)));
      });
      await t.store.appendFrames(run.runId, 1, dataFrames(2));
      await vi.waitFor(() => expect(reads.length).toBeGreaterThan(0), { timeout: 5_000, interval: 5 });
      expect(reads[0]).toEqual(["1-1", "1-2"]);
      await t.store.appendFrames(run.runId, 1, dataFrames(1));
      await vi.waitFor(() => expect(reads.at(-1)).toEqual(["1-1", "1-2", "1-3"]), { timeout: 5_000, interval: 5 });
      for (const read of reads) expect(read.length).toBeGreaterThan(0);
      unsubscribe();
    });

    it("stops calling a listener once unsubscribed", async () => {
      const run = await createRun();
      let calls = 0;
      const unsubscribe = t.store.subscribe(run.runId, () => {
        calls += 1;
      });
      await t.store.appendFrames(run.runId, 1, dataFrames(1));
      await vi.waitFor(() => expect(calls).toBeGreaterThan(0), { timeout: 5_000, interval: 5 });
      unsubscribe();
      await settle();
      const callsBefore = calls;
      await t.store.appendFrames(run.runId, 1, dataFrames(2));
      await t.store.appendFrames(run.runId, 1, [{ type: "result", payload: "{}" }], { finish: { status: "succeeded", response } });
      await settle();
      expect(calls).toBe(callsBefore);
    });

    it("calls every subscriber, each until it unsubscribes", async () => {
      const run = await createRun();
      let first = 0;
      let second = 0;
      const unsubscribeFirst = t.store.subscribe(run.runId, () => {
        first += 1;
      });
      const unsubscribeSecond = t.store.subscribe(run.runId, () => {
        second += 1;
      });
      await t.store.appendFrames(run.runId, 1, dataFrames(1));
      await vi.waitFor(() => expect(first > 0 && second > 0).toBe(true), { timeout: 5_000, interval: 5 });
      unsubscribeFirst();
      await settle();
      const firstBefore = first;
      const secondBefore = second;
      await t.store.appendFrames(run.runId, 1, dataFrames(1));
      await vi.waitFor(() => expect(second).toBeGreaterThan(secondBefore), { timeout: 5_000, interval: 5 });
      await settle();
      expect(first).toBe(firstBefore);
      unsubscribeSecond();
    });

    it("tells subscribers of frames appended after a takeover", async () => {
      const run = await suspendedRun(t.clock, 1);
      let reads: string[] = [];
      const unsubscribe = t.store.subscribe(run.runId, () => {
        void t.store.readFrames(run.runId, "1-1", 100).then((entries) => {
          reads = entries.map((entry) => entry.offset);
        });
      });
      await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock);
      await t.store.appendFrames(run.runId, 2, dataFrames(2));
      await vi.waitFor(() => expect(reads).toEqual(["2-2", "2-3"]), { timeout: 5_000, interval: 5 });
      unsubscribe();
    });
  });
}
