import { describe, expect, it } from "vitest";
import { DurableError } from "@durastream/server";
import { base64Request, dataFrames, emptyRequest, newRunOf, textRequest } from "./fixtures.js";
import type { ConformanceHarness } from "./harness.js";

/** Creating and reading runs: every field of a new run read back, request snapshots kept exactly, runs kept apart. */
export function describeRuns(t: ConformanceHarness): void {
  const { createRun } = t;
  describe("createRun and getRun", () => {
    it("creates a running run in epoch 1 and reads every field back", async () => {
      const created = await t.store.createRun({
        runId: "run-fields",
        endpointId: "POST /api/upload",
        createdAt: t.clock,
        request: base64Request,
        owner: "owner-a",
        leaseExpiresAt: t.clock + 12_345,
      });
      const read = await t.store.getRun("run-fields");
      for (const record of [created, read]) {
        expect(record).toBeDefined();
        expect(record!.runId).toBe("run-fields");
        expect(record!.endpointId).toBe("POST /api/upload");
        expect(record!.status).toBe("running");
        expect(record!.epoch).toBe(1);
        expect(record!.owner).toBe("owner-a");
        expect(record!.leaseExpiresAt).toBe(t.clock + 12_345);
        expect(record!.wakeAt).toBeNull();
        expect(record!.outsideCommitted).toBe(0);
        expect(record!.frameCount).toBe(0);
        expect(record!.logBytes).toBe(0);
        expect(record!.createdAt).toBe(t.clock);
        expect(record!.updatedAt).toBe(t.clock);
        expect(record!.result).toBeUndefined();
        expect(record!.request).toEqual(base64Request);
        expect(record!.request.headers.map(([header]) => header)).toEqual(["x-zeta", "content-type", "x-alpha", "x-zeta"]);
      }
      expect(await t.store.listSteps("run-fields")).toEqual([]);
      expect(await t.store.readFrames("run-fields", undefined, 10)).toEqual([]);
    });

    it("keeps request snapshots exactly: a unicode text body, a null body, no headers", async () => {
      const text = await createRun({ request: textRequest });
      const empty = await createRun({ request: emptyRequest });
      expect((await t.store.getRun(text.runId))!.request).toEqual(textRequest);
      expect((await t.store.getRun(empty.runId))!.request).toEqual(emptyRequest);
      expect((await t.store.getRun(empty.runId))!.request.body).toBeNull();
    });

    it("keeps runs apart", async () => {
      const first = await createRun({ endpointId: "GET /a" });
      const second = await createRun({ endpointId: "GET /b", owner: "owner-2" });
      await t.store.appendFrames(first.runId, 1, dataFrames(3));
      expect((await t.store.getRun(second.runId))!).toMatchObject({ endpointId: "GET /b", owner: "owner-2", frameCount: 0 });
      expect(await t.store.readFrames(second.runId, undefined, 10)).toEqual([]);
      expect((await t.store.getRun(first.runId))!.frameCount).toBe(3);
    });

    it("rejects a second run with the same id and leaves the first untouched", async () => {
      const run = await createRun({ runId: "run-twice" });
      await t.store.appendFrames(run.runId, 1, dataFrames(1));
      const outcome = await t.store.createRun({ ...newRunOf(run), owner: "owner-2" }).then(
        () => "resolved",
        (error: unknown) => error,
      );
      expect(DurableError.isInstance(outcome) && outcome.code, "createRun with a used id must reject with a DurableError RUN_EXISTS").toBe("RUN_EXISTS");
      expect(await t.store.getRun(run.runId)).toMatchObject({ owner: "owner-1", frameCount: 1, epoch: 1 });
    });

    it("resolves undefined for an unknown run", async () => {
      expect(await t.store.getRun("no-such-run")).toBeUndefined();
    });
  });
}
