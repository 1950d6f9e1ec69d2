import { describe, expect, it } from "vitest";
import { RETENTION, START, LEASE, expectRefused, dataFrames, runStep, response } from "./fixtures.js";
import type { ConformanceHarness } from "./harness.js";

/** How long finished runs are kept, and that running and suspended runs never expire. */
export function describeRetention(t: ConformanceHarness): void {
  const { createRun, suspendedRun, waitingRun } = t;
  describe("retention", () => {
    it("keeps a finished run for retention after it finished, then forgets it", async () => {
      const run = await createRun({ leaseExpiresAt: t.clock + 10 * RETENTION });
      t.clock += 5 * RETENTION; // retention counts from the finish, not from the creation
      await t.store.appendFrames(run.runId, 1, dataFrames(2), { step: runStep(0) });
      await t.store.appendFrames(run.runId, 1, [{ type: "result", payload: "{}" }], { finish: { status: "succeeded", response } });
      const finishedAt = t.clock;

      t.clock = finishedAt + RETENTION - 1;
      expect((await t.store.getRun(run.runId))?.status).toBe("succeeded");
      expect(await t.store.readFrames(run.runId, undefined, 10)).toHaveLength(3);
      expect(await t.store.listSteps(run.runId)).toHaveLength(1);

      t.clock = finishedAt + RETENTION;
      expect(await t.store.getRun(run.runId)).toBeUndefined();
      await expectRefused(t.store.readFrames(run.runId, undefined, 10), "unknown-run");
      expect(await t.store.listSteps(run.runId)).toEqual([]);
      await expectRefused(t.store.appendFrames(run.runId, 1, dataFrames(1)), "unknown-run");
      expect(await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock)).toBeUndefined();
      expect(await t.store.renewLease(run.runId, "owner-1", 1, t.clock + LEASE)).toBe(false);

      t.clock += 10 * RETENTION;
      expect(await t.store.getRun(run.runId)).toBeUndefined();
    });

    it("expires failed runs too, each from its own finish", async () => {
      const first = await createRun();
      await t.store.appendFrames(first.runId, 1, [], { finish: { status: "failed", response } });
      t.clock += RETENTION / 2;
      const second = await createRun();
      await t.store.appendFrames(second.runId, 1, [], { finish: { status: "failed", response } });
      t.clock = START + RETENTION;
      expect(await t.store.getRun(first.runId)).toBeUndefined();
      expect((await t.store.getRun(second.runId))?.status).toBe("failed");
      t.clock = START + RETENTION / 2 + RETENTION;
      expect(await t.store.getRun(second.runId)).toBeUndefined();
    });

    it("never expires running or suspended runs", async () => {
      const running = await createRun({ leaseExpiresAt: t.clock + 1_000 });
      const suspended = await suspendedRun(t.clock + 100 * RETENTION, 2);
      const waiting = await waitingRun("late", undefined, t.clock + 100 * RETENTION);
      t.clock += 50 * RETENTION;
      expect((await t.store.getRun(running.runId))?.status).toBe("running");
      expect((await t.store.getRun(suspended.runId))?.status).toBe("suspended");
      expect(await t.store.readFrames(suspended.runId, undefined, 10)).toHaveLength(2);
      expect(await t.store.appendFrames(running.runId, 1, dataFrames(1))).toBe("1-1");
      expect(await t.store.deliverEvent({ name: "late" }, t.clock)).toEqual([waiting.runId]);
      expect((await t.store.claimRun(running.runId, "owner-2", t.clock + LEASE, t.clock))?.epoch).toBe(2);
    });
  });
}
