import { describe, expect, it } from "vitest";
import type { FrameToAppend, RunRecord } from "@durastream/server/store";
import { RETENTION, LEASE, expectRefused, entriesOf, dataPayload, dataFrames, hashedId, base64Request, response } from "./fixtures.js";
import type { ConformanceHarness } from "./harness.js";

/** Quiet points (where a takeover starts reading) and getRunSummary. */
export function describeQuietPoints(t: ConformanceHarness): void {
  const { createRun } = t;
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
      expect((await t.store.getRun(run.runId))!.quiet).toBeUndefined();
      await t.store.appendFrames(run.runId, 1, dataFrames(3));
      expect(await t.store.appendFrames(run.runId, 1, [outsideRollback], { quiet: { rollbacks: marks } })).toBe("1-4");
      const quiet = { offset: "1-4", rollbacks: marks };
      expect((await t.store.getRun(run.runId))!.quiet).toEqual(quiet);
      expect(await t.store.readFrames(run.runId, quiet.offset, 10)).toEqual([]);
      await t.store.appendFrames(run.runId, 1, dataFrames(2, "later"));
      expect(entriesOf(await t.store.readFrames(run.runId, quiet.offset, 10)).map((entry) => entry.offset)).toEqual(["1-5", "1-6"]);
      expect((await t.store.getRun(run.runId))!.quiet).toEqual(quiet);
    });

    it("puts the quiet point of an append without frames at the log's end in the run's epoch, and hands it out with the claim", async () => {
      const run = await createRun();
      await t.store.appendFrames(run.runId, 1, dataFrames(3), { suspend: { wakeAt: t.clock } });
      const claimed = (await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock))!;
      expect(claimed.quiet).toEqual({ offset: "1-3", rollbacks: [] });
      expect(await t.store.appendFrames(run.runId, 2, [], { quiet: { rollbacks: marks } })).toBe("");
      const record = (await t.store.getRun(run.runId))!;
      expect(record.quiet).toEqual({ offset: "2-3", rollbacks: marks });
      expect(record.frameCount).toBe(3);
      expect(await t.store.appendFrames(run.runId, 2, dataFrames(1, "new"))).toBe("2-4");
      expect(entriesOf(await t.store.readFrames(run.runId, record.quiet!.offset, 10))).toEqual([{ offset: "2-4", type: "data", payload: dataPayload("new0") }]);
    });

    it("moves the quiet point to the end of the log on a suspension, keeping its marks", async () => {
      const run = await createRun();
      await t.store.appendFrames(run.runId, 1, [stepData("a"), stepCommit], { quiet: { rollbacks: marks } });
      await t.store.appendFrames(run.runId, 1, [stepData("b"), stepCommit, outsideData("c"), outsideCommit], { suspend: { wakeAt: t.clock + 1_000 } });
      expect((await t.store.getRun(run.runId))!.quiet).toEqual({ offset: "1-6", rollbacks: marks });
      t.clock += 1_000;
      await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock);
      await t.store.appendFrames(run.runId, 2, [stepData("d")]);
      await t.store.appendFrames(run.runId, 2, [], { suspend: { wakeAt: t.clock + 1_000 } });
      expect((await t.store.getRun(run.runId))!.quiet).toEqual({ offset: "2-7", rollbacks: marks });
    });

    it("records a quiet point with no marks on the first suspension", async () => {
      const run = await createRun();
      await t.store.appendFrames(run.runId, 1, dataFrames(2), { suspend: { wakeAt: t.clock + 1_000 } });
      expect((await t.store.getRun(run.runId))!.quiet).toEqual({ offset: "1-2", rollbacks: [] });
    });

    it("leaves the quiet point where it is on a suspension while outside-step chunks are pending", async () => {
      const run = await createRun();
      await t.store.appendFrames(run.runId, 1, [outsideData("a"), stepData("b"), stepCommit], { suspend: { wakeAt: t.clock } });
      expect((await t.store.getRun(run.runId))!.quiet).toBeUndefined();
      // Still pending in the next epoch: a step's commit ends nothing outside steps.
      await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock);
      await t.store.appendFrames(run.runId, 2, [stepData("c"), stepCommit], { suspend: { wakeAt: t.clock } });
      expect((await t.store.getRun(run.runId))!.quiet).toBeUndefined();
      // An outside-step commit ends them.
      await t.store.claimRun(run.runId, "owner-3", t.clock + LEASE, t.clock);
      await t.store.appendFrames(run.runId, 3, [outsideCommit], { suspend: { wakeAt: t.clock } });
      expect((await t.store.getRun(run.runId))!.quiet).toEqual({ offset: "3-6", rollbacks: [] });
      // So does an outside-step rollback; data of the same append after it is pending again.
      await t.store.claimRun(run.runId, "owner-4", t.clock + LEASE, t.clock);
      await t.store.appendFrames(run.runId, 4, [outsideData("d"), outsideRollback, outsideData("e")], { suspend: { wakeAt: t.clock } });
      expect((await t.store.getRun(run.runId))!.quiet).toEqual({ offset: "3-6", rollbacks: [] });
      await t.store.claimRun(run.runId, "owner-5", t.clock + LEASE, t.clock);
      await t.store.appendFrames(run.runId, 5, [outsideData("f"), outsideRollback], { suspend: { wakeAt: t.clock } });
      expect((await t.store.getRun(run.runId))!.quiet).toEqual({ offset: "5-11", rollbacks: [] });
    });

    it("ends pending outside-step chunks with an append that records a quiet point", async () => {
      const run = await createRun();
      await t.store.appendFrames(run.runId, 1, [outsideData("a")], { suspend: { wakeAt: t.clock } });
      await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock);
      await t.store.appendFrames(run.runId, 2, [], { quiet: { rollbacks: [] } });
      expect((await t.store.getRun(run.runId))!.quiet).toEqual({ offset: "2-1", rollbacks: [] });
      await t.store.appendFrames(run.runId, 2, [stepData("b"), stepCommit], { suspend: { wakeAt: t.clock } });
      expect((await t.store.getRun(run.runId))!.quiet).toEqual({ offset: "2-3", rollbacks: [] });
    });

    it("changes no quiet point with a refused append", async () => {
      const run = await createRun();
      await t.store.appendFrames(run.runId, 1, dataFrames(1), { quiet: { rollbacks: [] } });
      await expectRefused(t.store.appendFrames(run.runId, 2, dataFrames(1), { quiet: { rollbacks: marks } }), "fenced");
      await expectRefused(t.store.appendFrames(run.runId, 2, [], { suspend: { wakeAt: t.clock } }), "fenced");
      expect((await t.store.getRun(run.runId))!.quiet).toEqual({ offset: "1-1", rollbacks: [] });
    });

    it("reads the run without its request with getRunSummary (stores that have it)", async () => {
      if (t.store.getRunSummary === undefined) return;
      const withoutRequest = ({ request: _request, ...summary }: RunRecord) => summary;
      const run = await createRun({ request: base64Request });
      expect(await t.store.getRunSummary(run.runId)).toEqual(withoutRequest(run));
      await t.store.appendFrames(run.runId, 1, [outsideData("a"), outsideCommit], { outsideCommitted: 1, quiet: { rollbacks: marks } });
      let summary = await t.store.getRunSummary(run.runId);
      expect(summary).not.toHaveProperty("request");
      expect(summary).toEqual(withoutRequest((await t.store.getRun(run.runId))!));
      await t.store.appendFrames(run.runId, 1, [{ type: "result", payload: "{}" }], { finish: { status: "succeeded", response } });
      summary = await t.store.getRunSummary(run.runId);
      expect(summary).toMatchObject({ status: "succeeded", result: response, frameCount: 3, quiet: { offset: "1-2", rollbacks: marks } });
      expect(summary).toEqual(withoutRequest((await t.store.getRun(run.runId))!));
      expect(await t.store.getRunSummary("no-such-run")).toBeUndefined();
      t.clock += RETENTION;
      expect(await t.store.getRunSummary(run.runId)).toBeUndefined();
    });
  });
}
