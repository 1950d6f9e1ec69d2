import { describe, expect, it } from "vitest";
import { LEASE, expectRefused, dataFrames, runStep, response } from "./fixtures.js";
import type { ConformanceHarness } from "./harness.js";

/** Claims and leases: claimRun (taking over a run in a new epoch) and renewLease. */
export function describeClaims(t: ConformanceHarness): void {
  const { createRun, observe, suspendedRun } = t;
  describe("claimRun", () => {
    it("claims a suspended run that is due: epoch + 1, owner, lease, running, wakeAt null", async () => {
      const run = await suspendedRun(t.clock + 1_000, 2);
      t.clock += 1_500;
      const claimed = await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock);
      expect(claimed).toBeDefined();
      expect(claimed).toMatchObject({
        runId: run.runId,
        endpointId: run.endpointId,
        status: "running",
        epoch: 2,
        owner: "owner-2",
        leaseExpiresAt: t.clock + LEASE,
        wakeAt: null,
        frameCount: 2,
        createdAt: run.createdAt,
      });
      expect(claimed!.request).toEqual(run.request);
      expect(await t.store.getRun(run.runId)).toEqual(claimed);
    });

    it("claims a suspended run exactly at its wakeAt, not a millisecond before", async () => {
      const run = await suspendedRun(t.clock + 1_000);
      t.clock += 999;
      expect(await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock)).toBeUndefined();
      expect(await t.store.getRun(run.runId)).toMatchObject({ status: "suspended", epoch: 1, owner: null, wakeAt: run.wakeAt });
      t.clock += 1;
      expect((await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock))?.epoch).toBe(2);
    });

    it("does not claim a running run whose lease holds (up to leaseExpiresAt included)", async () => {
      const run = await createRun({ leaseExpiresAt: t.clock + 1_000 });
      expect(await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock)).toBeUndefined();
      t.clock += 1_000;
      expect(await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock)).toBeUndefined();
      expect(await t.store.getRun(run.runId)).toMatchObject({ status: "running", epoch: 1, owner: "owner-1", leaseExpiresAt: run.leaseExpiresAt });
    });

    it("claims a running run whose lease has expired", async () => {
      const run = await createRun({ leaseExpiresAt: t.clock + 1_000 });
      await t.store.appendFrames(run.runId, 1, dataFrames(3));
      t.clock += 1_001;
      const claimed = await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock);
      expect(claimed).toMatchObject({ status: "running", epoch: 2, owner: "owner-2", leaseExpiresAt: t.clock + LEASE, wakeAt: null, frameCount: 3 });
    });

    it("does not claim a finished run or an unknown one", async () => {
      const run = await createRun({ leaseExpiresAt: t.clock + 10 });
      await t.store.appendFrames(run.runId, 1, [{ type: "result", payload: "{}" }], { finish: { status: "succeeded", response } });
      t.clock += 1_000;
      expect(await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock)).toBeUndefined();
      expect(await t.store.getRun(run.runId)).toMatchObject({ status: "succeeded", epoch: 1, owner: null });
      expect(await t.store.claimRun("no-such-run", "owner-2", t.clock + LEASE, t.clock)).toBeUndefined();
      expect(await t.store.getRun("no-such-run")).toBeUndefined();
    });

    it("lets exactly one of two racing claims win", async () => {
      const suspended = await suspendedRun(t.clock);
      const expired = await createRun({ leaseExpiresAt: t.clock - 1 });
      for (const run of [suspended, expired]) {
        const results = await Promise.all([
          t.store.claimRun(run.runId, "owner-a", t.clock + LEASE, t.clock),
          t.store.claimRun(run.runId, "owner-b", t.clock + LEASE, t.clock),
          t.store.claimRun(run.runId, "owner-c", t.clock + LEASE, t.clock),
        ]);
        const winners = results.filter((result) => result !== undefined);
        expect(winners).toHaveLength(1);
        expect(winners[0]!.epoch).toBe(2);
        const record = (await t.store.getRun(run.runId))!;
        expect(record.epoch).toBe(2);
        expect(record.owner).toBe(winners[0]!.owner);
      }
    });

    it("fences the previous executor and continues the sequence in the new epoch", async () => {
      const run = await createRun({ leaseExpiresAt: t.clock + 100 });
      await t.store.appendFrames(run.runId, 1, dataFrames(3), { step: runStep(0) });
      t.clock += 101;
      await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock);
      const before = await observe(run.runId);
      await expectRefused(t.store.appendFrames(run.runId, 1, dataFrames(1), { step: runStep(1) }), "fenced");
      await expectRefused(t.store.appendFrames(run.runId, 1, [], { finish: { status: "succeeded", response } }), "fenced");
      expect(await observe(run.runId)).toEqual(before);
      expect(await t.store.appendFrames(run.runId, 2, dataFrames(2))).toBe("2-5");
      await t.store.appendFrames(run.runId, 2, [], { suspend: { wakeAt: t.clock + 10 } });
      t.clock += 10;
      expect((await t.store.claimRun(run.runId, "owner-3", t.clock + LEASE, t.clock))?.epoch).toBe(3);
      await expectRefused(t.store.appendFrames(run.runId, 2, dataFrames(1)), "fenced");
      expect(await t.store.appendFrames(run.runId, 3, dataFrames(1))).toBe("3-6");
      expect(await t.store.listSteps(run.runId)).toEqual([runStep(0)]);
      expect((await t.store.getRun(run.runId))!.frameCount).toBe(6);
    });
  });

  describe("renewLease", () => {
    it("extends the holder's lease and refuses anyone else", async () => {
      const run = await createRun({ leaseExpiresAt: t.clock + 1_000 });
      expect(await t.store.renewLease(run.runId, "owner-1", 1, t.clock + 5_000)).toBe(true);
      expect((await t.store.getRun(run.runId))!.leaseExpiresAt).toBe(t.clock + 5_000);
      expect(await t.store.renewLease(run.runId, "owner-2", 1, t.clock + 9_000)).toBe(false);
      expect(await t.store.renewLease(run.runId, "owner-1", 2, t.clock + 9_000)).toBe(false);
      expect((await t.store.getRun(run.runId))!.leaseExpiresAt).toBe(t.clock + 5_000);
      expect(await t.store.renewLease("no-such-run", "owner-1", 1, t.clock + 9_000)).toBe(false);
    });

    it("refuses the previous owner after a takeover, and owners of suspended or finished runs", async () => {
      const run = await createRun({ leaseExpiresAt: t.clock + 100 });
      t.clock += 101;
      await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock);
      expect(await t.store.renewLease(run.runId, "owner-1", 1, t.clock + 9_000)).toBe(false);
      expect(await t.store.renewLease(run.runId, "owner-2", 1, t.clock + 9_000)).toBe(false);
      expect(await t.store.renewLease(run.runId, "owner-2", 2, t.clock + 9_000)).toBe(true);

      await t.store.appendFrames(run.runId, 2, [], { suspend: { wakeAt: t.clock + 60_000 } });
      expect(await t.store.renewLease(run.runId, "owner-2", 2, t.clock + 9_000)).toBe(false);
      expect((await t.store.getRun(run.runId))!.status).toBe("suspended");

      const finished = await createRun();
      await t.store.appendFrames(finished.runId, 1, [], { finish: { status: "succeeded", response } });
      expect(await t.store.renewLease(finished.runId, "owner-1", 1, t.clock + 9_000)).toBe(false);
    });

    it("keeps claimRun out until the renewed lease expires", async () => {
      const run = await createRun({ leaseExpiresAt: t.clock + 1_000 });
      expect(await t.store.renewLease(run.runId, "owner-1", 1, t.clock + 5_000)).toBe(true);
      t.clock += 1_001;
      expect(await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock)).toBeUndefined();
      expect((await t.store.listResumableRuns(t.clock, 10)).map((resumable) => resumable.runId)).not.toContain(run.runId);
      t.clock += 4_000;
      expect((await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock))?.owner).toBe("owner-2");
    });
  });
}
