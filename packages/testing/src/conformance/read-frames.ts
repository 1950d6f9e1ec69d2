import type { LogFrameType } from "@durastream/protocol";
import { describe, expect, it } from "vitest";
import type { FrameToAppend, LogEntry } from "@durastream/server/store";
import { LEASE, expectRefused, entriesOf, dataFrames, response } from "./fixtures.js";
import type { ConformanceHarness } from "./harness.js";

/** Reading a run's frame log: after an offset, at most a count of frames, at most a number of bytes. */
export function describeReadFrames(t: ConformanceHarness): void {
  const { createRun, suspendedRun } = t;
  describe("readFrames", () => {
    it("reads from the start, strictly after an offset, and at most limit frames", async () => {
      const run = await createRun();
      await t.store.appendFrames(run.runId, 1, dataFrames(5));
      const offsetsAfter = async (after: string | undefined, limit: number) => (await t.store.readFrames(run.runId, after, limit)).map((entry) => entry.offset);
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
      const run = await suspendedRun(t.clock + 1_000, 4);
      t.clock += 1_000;
      const claimed = await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock);
      expect(claimed?.epoch).toBe(2);
      expect(await t.store.appendFrames(run.runId, 2, dataFrames(3, "e2"))).toBe("2-7");
      const offsetsAfter = async (after: string | undefined) => (await t.store.readFrames(run.runId, after, 100)).map((entry) => entry.offset);
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
      expect((await t.store.readFrames(run.runId, "1-7", 2)).map((entry) => entry.offset)).toEqual(["2-5", "2-6"]);
    });

    it("round-trips frame types and payloads exactly: unicode, escapes, long payloads", async () => {
      const run = await createRun();
      const long = JSON.stringify({ text: "λ😀".repeat(100_000) + "x".repeat(300_000) });
      const frames: FrameToAppend[] = [
        { type: "data", payload: JSON.stringify({ text: "héllo wörld — 你好 — 😀👩‍👩‍👧 — e\u0301" }) },
        { type: "data", payload: JSON.stringify({ text: 'line\nbreak\r\n\t"quoted" \\ \u2028\u2029 \u0000' }) },
        { type: "commit", payload: '{"hashedStepId":null}' },
        { type: "rollback", payload: '{"attempt":1,"error":{"name":"Error","message":"✗"}}' },
        { type: "data", payload: long },
        { type: "data", payload: "" },
        { type: "result", payload: '{"status":"succeeded"}' },
      ];
      await t.store.appendFrames(run.runId, 1, frames);
      const entries = entriesOf(await t.store.readFrames(run.runId, undefined, 100));
      expect(entries).toEqual(frames.map((frame, index) => ({ ...frame, offset: `1-${index + 1}` })));
      expect(entries[4]!.payload.length).toBe(long.length);
      expect((await t.store.getRun(run.runId))!.logBytes).toBe(frames.reduce((sum, frame) => sum + frame.payload.length, 0));
    });
  });

  describe("readFrames with maxBytes", () => {
    /** A frame whose payload is exactly `length` UTF-16 code units of ASCII (a JSON string). */
    const sized = (length: number, type: LogFrameType = "data"): FrameToAppend => ({ type, payload: JSON.stringify("x".repeat(length - 2)) });
    const offsetsOf = (entries: readonly LogEntry[]) => entries.map((entry) => entry.offset);

    it("stops at the frame with which the payloads reach maxBytes, within limit", async () => {
      const run = await createRun();
      await t.store.appendFrames(run.runId, 1, [sized(10), sized(10), sized(10), sized(10), sized(10)]);
      const read = async (after: string | undefined, limit: number, maxBytes?: number) =>
        offsetsOf(await t.store.readFrames(run.runId, after, limit, maxBytes));
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
      await t.store.appendFrames(run.runId, 1, [{ type: "data", payload: large }, sized(5), sized(5, "commit")]);
      const first = entriesOf(await t.store.readFrames(run.runId, undefined, 100, 1_000));
      expect(first).toEqual([{ type: "data", payload: large, offset: "1-1" }]);
      expect(offsetsOf(await t.store.readFrames(run.runId, undefined, 100, 0))).toEqual(["1-1"]);
      expect(offsetsOf(await t.store.readFrames(run.runId, "1-1", 100, 0))).toEqual(["1-2"]);
      expect(entriesOf(await t.store.readFrames(run.runId, "1-1", 100, 1_000))).toEqual([
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
      await t.store.appendFrames(run.runId, 1, [astral, astral, accented, accented, accented]);
      expect(astral.payload.length).toBe(12);
      expect(accented.payload.length).toBe(8);
      const read = async (after: string | undefined, maxBytes: number) => offsetsOf(await t.store.readFrames(run.runId, after, 100, maxBytes));
      expect(await read(undefined, 8)).toEqual(["1-1"]);
      expect(await read(undefined, 12)).toEqual(["1-1"]);
      expect(await read(undefined, 13)).toEqual(["1-1", "1-2"]);
      expect(await read(undefined, 25)).toEqual(["1-1", "1-2", "1-3"]);
      expect(await read("1-2", 9)).toEqual(["1-3", "1-4"]);
      expect(await read("1-2", 16)).toEqual(["1-3", "1-4"]);
      expect(await read("1-2", 17)).toEqual(["1-3", "1-4", "1-5"]);
      expect((await t.store.getRun(run.runId))!.logBytes).toBe(2 * 12 + 3 * 8);
    });

    it("pages through a log of mixed sizes across a takeover: every frame once, in order", async () => {
      const run = await suspendedRun(t.clock + 1_000);
      const sizes = [3, 40_000, 17, 250_000, 8, 8, 8, 120_000, 1, 64];
      const frames = sizes.map((size, index) => ({
        type: "data" as LogFrameType,
        payload: JSON.stringify({ step: null, data: `${index}:${"y".repeat(size)}` }),
      }));
      // The suspended run holds no frames; a second executor writes half, a third the rest.
      t.clock += 1_000;
      expect((await t.store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock))?.epoch).toBe(2);
      await t.store.appendFrames(run.runId, 2, frames.slice(0, 5), { suspend: { wakeAt: t.clock + 1_000 } });
      t.clock += 1_000;
      expect((await t.store.claimRun(run.runId, "owner-3", t.clock + LEASE, t.clock))?.epoch).toBe(3);
      await t.store.appendFrames(run.runId, 3, [...frames.slice(5), { type: "result", payload: '{"status":"succeeded"}' }], {
        finish: { status: "succeeded", response },
      });
      const read: LogEntry[] = [];
      let reads = 0;
      for (let after: string | undefined; ; ) {
        const page = await t.store.readFrames(run.runId, after, 3, 50_000);
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
      await expectRefused(t.store.readFrames("no-such-run", undefined, 10, 1_000), "unknown-run");
      await expectRefused(t.store.readFrames("no-such-run", "1-1", 10, 0), "unknown-run");
      const run = await createRun();
      expect(await t.store.readFrames(run.runId, undefined, 10, 1_000)).toEqual([]);
      expect(await t.store.readFrames(run.runId, "1-5", 10, 0)).toEqual([]);
    });
  });
}
