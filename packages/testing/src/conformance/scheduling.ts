import { describe, expect, it } from "vitest";
import type { ResumableCursor, ResumableRun } from "@durastream/server/store";
import { START, LEASE, response } from "./fixtures.js";
import type { ConformanceHarness } from "./harness.js";

/** Scheduling: listResumableRuns, its pages after a cursor, and nextWakeAt. */
export function describeScheduling(t: ConformanceHarness): void {
  const { createRun, suspendedRun } = t;
  describe("listResumableRuns and nextWakeAt", () => {
    it("lists due suspended runs and expired running runs, longest due first, up to limit", async () => {
      // Ids and creation order sort against due order, so the order cannot come from either.
      const dueLater = await createRun({ runId: "aa-due-later" });
      await t.store.appendFrames(dueLater.runId, 1, [], { suspend: { wakeAt: t.clock + 50 } });
      t.clock += 10;
      const expiredRunning = await createRun({ runId: "mm-expired", leaseExpiresAt: t.clock + 20, endpointId: "GET /expired" });
      t.clock += 10;
      const notDue = await suspendedRun(t.clock + 1_000_000);
      t.clock += 10;
      const live = await createRun({ leaseExpiresAt: t.clock + 1_000_000 });
      t.clock += 10;
      const finished = await createRun({ leaseExpiresAt: t.clock });
      await t.store.appendFrames(finished.runId, 1, [], { finish: { status: "failed", response } });
      t.clock += 10;
      const dueEarlier = await createRun({ runId: "zz-due-earlier" });
      await t.store.appendFrames(dueEarlier.runId, 1, [], { suspend: { wakeAt: t.clock - 1_000 } });
      t.clock += 100;

      const listed = await t.store.listResumableRuns(t.clock, 10);
      // dueAt: a suspended run's wakeAt, a running run's leaseExpiresAt.
      expect(listed).toEqual([
        { runId: dueEarlier.runId, endpointId: dueEarlier.endpointId, dueAt: START + 50 - 1_000 },
        { runId: expiredRunning.runId, endpointId: "GET /expired", dueAt: START + 30 },
        { runId: dueLater.runId, endpointId: dueLater.endpointId, dueAt: START + 50 },
      ]);
      expect(await t.store.listResumableRuns(t.clock, 2)).toEqual(listed.slice(0, 2));
      expect(await t.store.listResumableRuns(t.clock, 1)).toEqual(listed.slice(0, 1));
      const ids = listed.map((resumable) => resumable.runId);
      for (const excluded of [notDue, live, finished]) expect(ids).not.toContain(excluded.runId);

      expect((await t.store.listResumableRuns(START, 10)).map((resumable) => resumable.runId)).toEqual([dueEarlier.runId]);
      for (const resumable of listed) {
        expect(await t.store.claimRun(resumable.runId, "owner-2", t.clock + LEASE, t.clock)).toBeDefined();
      }
      expect(await t.store.listResumableRuns(t.clock, 10)).toEqual([]);
    });

    it("tells the earliest wakeAt among suspended runs, or null", async () => {
      expect(await t.store.nextWakeAt()).toBeNull();
      await createRun();
      expect(await t.store.nextWakeAt()).toBeNull();
      const later = await suspendedRun(t.clock + 5_000);
      const earliest = await suspendedRun(t.clock + 2_000);
      await suspendedRun(t.clock + 9_000);
      expect(await t.store.nextWakeAt()).toBe(t.clock + 2_000);
      t.clock += 3_000; // a wakeAt in the past still counts
      expect(await t.store.nextWakeAt()).toBe(START + 2_000);
      await t.store.claimRun(earliest.runId, "owner-2", t.clock + LEASE, t.clock);
      expect(await t.store.nextWakeAt()).toBe(START + 5_000);
      t.clock += 2_000;
      await t.store.claimRun(later.runId, "owner-2", t.clock + LEASE, t.clock);
      await t.store.appendFrames(later.runId, 2, [], { finish: { status: "succeeded", response } });
      expect(await t.store.nextWakeAt()).toBe(START + 9_000);
    });

    it("returns to null when no run is suspended any more", async () => {
      const run = await suspendedRun(t.clock + 10);
      expect(await t.store.nextWakeAt()).toBe(t.clock + 10);
      t.clock += 10;
      await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock);
      expect(await t.store.nextWakeAt()).toBeNull();
    });
  });

  describe("listResumableRuns pages after a cursor (fairness)", () => {
    /** `count` runs of `endpointId`, suspended until `wakeAt(index)` (before the clock: due). */
    async function dueRuns(count: number, prefix: string, endpointId: string, wakeAt: (index: number) => number): Promise<ResumableRun[]> {
      const made: ResumableRun[] = [];
      for (let index = 0; index < count; index += 1) {
        const run = await createRun({ runId: `${prefix}-${String(index).padStart(4, "0")}`, endpointId });
        await t.store.appendFrames(run.runId, 1, [], { suspend: { wakeAt: wakeAt(index) } });
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
        const page = await t.store.listResumableRuns(t.clock, limit, after);
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
      await suspendedRun(t.clock + 60_000); // not due
      await createRun({ leaseExpiresAt: t.clock + 60_000 }); // lease held
      const expected = inOrder([...suspended, ...running]);

      expect(await t.store.listResumableRuns(t.clock, 100)).toEqual(expected);
      for (const limit of [1, 3, 5, 17]) {
        const pages = await allPages(limit);
        for (const page of pages) expect(page.length).toBeLessThanOrEqual(limit);
        expect(pages.flat()).toEqual(expected);
      }
      expect(await t.store.listResumableRuns(t.clock, 0)).toEqual([]);
      expect(await t.store.listResumableRuns(t.clock, 4, expected[expected.length - 1])).toEqual([]);
    });

    it("finds the runs behind 150 runs due earlier (orphans) within two pages of 100", async () => {
      const orphans = await dueRuns(150, "orphan", "POST /removed", (index) => START - 10_000 + index);
      const [wanted] = await dueRuns(1, "wanted", "POST /api/chat", () => START - 5);
      t.clock += 1;

      const first = await t.store.listResumableRuns(t.clock, 100);
      expect(first).toEqual(orphans.slice(0, 100));
      const second = await t.store.listResumableRuns(t.clock, 100, first[first.length - 1]);
      expect(second).toEqual([...orphans.slice(100), wanted]);
    });

    it("goes on after a cursor whose run is no longer due (claimed, or woken at another time)", async () => {
      const runs = await dueRuns(9, "t", "POST /api/chat", (index) => START - 50 + 10 * Math.floor(index / 3)); // three ties of three
      const cursor = runs[4]!;
      await t.store.claimRun(cursor.runId, "owner-2", t.clock + LEASE, t.clock);
      expect(await t.store.listResumableRuns(t.clock, 100, cursor)).toEqual(runs.slice(5));
      // A run listed before the cursor that leaves and comes back with a later due time is listed again.
      await t.store.claimRun(runs[0]!.runId, "owner-2", t.clock + LEASE, t.clock);
      await t.store.appendFrames(runs[0]!.runId, 2, [], { suspend: { wakeAt: t.clock } });
      expect(await t.store.listResumableRuns(t.clock, 100, cursor)).toEqual([...runs.slice(5), { ...runs[0]!, dueAt: t.clock }]);
    });

    it('starts at a time with { dueAt, runId: "" } and ends at now', async () => {
      const runs = await dueRuns(4, "u", "POST /api/chat", (index) => START - 40 + 10 * index);
      expect(await t.store.listResumableRuns(t.clock, 100, { dueAt: START - 20, runId: "" })).toEqual(runs.slice(2));
      expect(await t.store.listResumableRuns(START - 20, 100)).toEqual(runs.slice(0, 3));
      expect(await t.store.listResumableRuns(t.clock, 100, { dueAt: t.clock, runId: "" })).toEqual([]);
    });

    it("tells the earliest wakeAt later than `after`", async () => {
      await dueRuns(2, "w", "POST /api/chat", (index) => START - 1_000 + index); // due long ago
      await suspendedRun(t.clock + 5_000);
      await suspendedRun(t.clock + 2_000);
      expect(await t.store.nextWakeAt()).toBe(START - 1_000);
      expect(await t.store.nextWakeAt(t.clock)).toBe(t.clock + 2_000);
      expect(await t.store.nextWakeAt(START - 1_000)).toBe(START - 999);
      expect(await t.store.nextWakeAt(t.clock + 2_000)).toBe(t.clock + 5_000);
      expect(await t.store.nextWakeAt(t.clock + 5_000)).toBeNull();
    });
  });
}
