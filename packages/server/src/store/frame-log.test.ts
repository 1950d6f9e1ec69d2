import { compareOffsets, hashStepId, parseOffset, START_OFFSET, type LogFrameType, type Offset } from "@durastream/protocol";
import { createDataPayloadEncoder } from "@durastream/protocol/internal";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StoreRefusedError } from "../errors.js";
import { FrameLog } from "./frame-log.js";
import type { LogEntry } from "./run-store.js";

/** The log as the store kept it before: one object per frame, searched with `compareOffsets`. */
class ModelLog {
  readonly entries: (LogEntry & Offset)[] = [];

  append(epoch: number, type: LogFrameType, payload: string): void {
    const sequence = this.entries.length + 1;
    this.entries.push({ type, payload, offset: `${epoch}-${sequence}`, epoch, sequence });
  }

  read(after: Offset, limit: number): LogEntry[] {
    let start = 0;
    while (start < this.entries.length && compareOffsets(this.entries[start]!, after) <= 0) start += 1;
    if (start >= this.entries.length) return [];
    return this.entries.slice(start, start + limit).map(({ type, payload, offset }) => ({ type, payload, offset }));
  }
}

/** A `FrameLog` and its model, written together. */
function logs() {
  const log = new FrameLog();
  const model = new ModelLog();
  return {
    log,
    model,
    append(epoch: number, type: LogFrameType, payload: string) {
      log.append(epoch, type, payload);
      model.append(epoch, type, payload);
    },
  };
}

const all = (log: FrameLog) => log.read(START_OFFSET, Infinity);
const offsetsAfter = (log: FrameLog, after: string, limit = Infinity) => log.read(parseOffset(after), limit).map((entry) => entry.offset);

describe("FrameLog", () => {
  describe("payloads", () => {
    it("gives data payloads back byte for byte, while the step stays and when it changes", async () => {
      const { log, model, append } = logs();
      const [first, second] = [createDataPayloadEncoder(await hashStepId("first")), createDataPayloadEncoder(await hashStepId("second"))];
      const outside = createDataPayloadEncoder(null);
      const chunks = ['"a"', "1", '{"text":"hello"}', "[1,2,3]", "null", '""', '"}"', '{"data":{"step":null}}'];
      for (const encode of [first, first, second, first, outside, outside, second]) {
        for (const chunk of chunks) append(1, "data", encode(chunk));
      }
      expect(all(log)).toEqual(model.read(START_OFFSET, Infinity));
      expect(all(log)[0]!.payload).toBe(first('"a"'));
    });

    it("keeps commit, rollback and result frames whole, also when they look like data payloads", () => {
      const { log, model, append } = logs();
      const outside = createDataPayloadEncoder(null);
      append(1, "data", outside("1"));
      append(1, "commit", '{"step":null}');
      append(1, "rollback", '{"step":null,"data":1}');
      append(1, "data", outside("2"));
      append(1, "result", '{"status":"succeeded","response":{"status":200}}');
      expect(all(log)).toEqual(model.read(START_OFFSET, Infinity));
    });

    it("round-trips unicode: accents, CJK, emoji, ZWJ sequences, lone surrogates, line separators", () => {
      const { log, model, append } = logs();
      const outside = createDataPayloadEncoder(null);
      const texts = ["héllo wörld", "你好", "😀👩‍👩‍👧", "e\u0301", "\ud800", "x\udfff", "\u2028\u2029", "\u0000", "λ😀".repeat(1_000)];
      for (const text of texts) {
        append(1, "data", outside(JSON.stringify(text)));
        append(1, "data", outside(`"${text}"`)); // not valid JSON for every text: stored exactly anyway
        append(1, "data", `{"step":"${text}","data":"${text}"}`);
        append(1, "commit", JSON.stringify({ step: text }));
      }
      expect(all(log)).toEqual(model.read(START_OFFSET, Infinity));
    });

    it.each([
      ["empty", ""],
      ["a lone brace", "}"],
      ["the opening alone", '{"step":null,"data":'],
      ["the opening and a brace", '{"step":null,"data":}'],
      ["no closing brace", '{"step":null,"data":1'],
      ["keys swapped", '{"data":1,"step":null}'],
      ["spaces", '{ "step": null, "data": 1 }'],
      ["a step with a quote", '{"step":"a\\",\\"data\\":","data":1}'],
      ["two data keys", '{"step":null,"data":1,"data":2}'],
      ["not JSON", "hello, world"],
      ["a huge opening", `{"step":"${"a".repeat(10_000)}","data":1}`],
    ])("round-trips a data payload that is %s, before and after well-formed ones", (_name, payload) => {
      const { log, model, append } = logs();
      const outside = createDataPayloadEncoder(null);
      append(1, "data", payload);
      append(1, "data", outside("1"));
      append(1, "data", payload);
      append(1, "data", outside("2"));
      append(1, "data", payload);
      expect(all(log)).toEqual(model.read(START_OFFSET, Infinity));
    });

    it("keeps a frame type outside LogFrameType that an untyped caller wrote", () => {
      const { log, model, append } = logs();
      append(1, "data", '{"step":null,"data":1}');
      append(1, "metadata" as LogFrameType, '{"runId":"r"}');
      append(1, "commit", '{"step":null}');
      expect(all(log)).toEqual(model.read(START_OFFSET, Infinity));
      expect(all(log)[1]!.type).toBe("metadata");
    });

    it("round-trips payloads larger than a segment between small ones", () => {
      const { log, model, append } = logs();
      const outside = createDataPayloadEncoder(null);
      const sizes = [10, 5_000, 3, 4_095, 4_096, 4_097, 1, 200_000, 2, 2, 70_000];
      for (const [index, size] of sizes.entries()) {
        append(1, "data", outside(JSON.stringify(String(index % 10).repeat(size))));
        append(1, "rollback", "r".repeat(size));
      }
      for (let after = 0; after <= log.length; after += 1) {
        expect(log.read({ epoch: 1, sequence: after }, 3)).toEqual(model.read({ epoch: 1, sequence: after }, 3));
      }
    });
  });

  describe("read", () => {
    it("gives offsets <epoch>-<sequence> with sequences 1, 2, … across epochs", () => {
      const log = new FrameLog();
      for (const epoch of [1, 1, 1, 1, 2, 2, 5]) log.append(epoch, "data", '{"step":null,"data":0}');
      expect(all(log).map((entry) => entry.offset)).toEqual(["1-1", "1-2", "1-3", "1-4", "2-5", "2-6", "5-7"]);
      expect(log.length).toBe(7);
    });

    it("reads strictly after offsets of other epochs, also ones that were never stored", () => {
      const log = new FrameLog();
      for (const epoch of [2, 2, 2, 2, 4, 4, 4]) log.append(epoch, "data", '{"step":null,"data":0}');
      const tail = ["4-5", "4-6", "4-7"];
      expect(offsetsAfter(log, "0-0")).toEqual(["2-1", "2-2", "2-3", "2-4", ...tail]);
      expect(offsetsAfter(log, "1-1000")).toEqual(["2-1", "2-2", "2-3", "2-4", ...tail]);
      expect(offsetsAfter(log, "2-0")).toEqual(["2-1", "2-2", "2-3", "2-4", ...tail]);
      expect(offsetsAfter(log, "2-2")).toEqual(["2-3", "2-4", ...tail]);
      expect(offsetsAfter(log, "2-4")).toEqual(tail);
      expect(offsetsAfter(log, "2-9")).toEqual(tail); // streamed by the first executor, never stored
      expect(offsetsAfter(log, "3-1")).toEqual(tail); // an epoch that wrote nothing
      expect(offsetsAfter(log, "4-1")).toEqual(tail);
      expect(offsetsAfter(log, "4-5")).toEqual(["4-6", "4-7"]);
      expect(offsetsAfter(log, "4-7")).toEqual([]);
      expect(offsetsAfter(log, "4-1000")).toEqual([]);
      expect(offsetsAfter(log, "5-0")).toEqual([]);
      expect(offsetsAfter(log, "2-1", 2)).toEqual(["2-2", "2-3"]);
      expect(offsetsAfter(log, "2-3", 2)).toEqual(["2-4", "4-5"]);
    });

    it("reads every window across segment, epoch and step boundaries like the model", async () => {
      const { log, model, append } = logs();
      const encoders = [createDataPayloadEncoder(await hashStepId("a")), createDataPayloadEncoder(await hashStepId("b")), createDataPayloadEncoder(null)];
      let epoch = 1;
      for (let index = 0; index < 400; index += 1) {
        if (index % 97 === 96) epoch += index % 2 === 0 ? 1 : 3;
        if (index % 13 === 12) append(epoch, "commit", '{"step":null}');
        else append(epoch, "data", encoders[Math.floor(index / 20) % 3]!(JSON.stringify({ index, text: "x".repeat(index % 50) })));
      }
      const afters: Offset[] = [START_OFFSET];
      for (const entry of model.entries) afters.push(entry, { epoch: entry.epoch, sequence: entry.sequence + 1_000 }, { epoch: entry.epoch + 1, sequence: 0 });
      for (const after of afters) {
        for (const limit of [1, 2, 33, 1_000]) expect(log.read(after, limit)).toEqual(model.read(after, limit));
      }
    });

    it("treats limit as Array.prototype.slice treats an end, as the store did", () => {
      const { log, model, append } = logs();
      for (let index = 0; index < 10; index += 1) append(1, "data", `{"step":null,"data":${index}}`);
      for (const limit of [0, -1, -3, -100, 0.5, 2.7, Number.NaN, Infinity, -Infinity]) {
        for (const sequence of [0, 3, 9, 10]) {
          expect(log.read({ epoch: 1, sequence }, limit), `after 1-${sequence}, limit ${limit}`).toEqual(model.read({ epoch: 1, sequence }, limit));
        }
      }
    });

    it("reads an empty log as empty", () => {
      const log = new FrameLog();
      expect(all(log)).toEqual([]);
      expect(offsetsAfter(log, "1-1")).toEqual([]);
    });

    it("reads a log of 100,000 frames in windows, each frame once and exactly", async () => {
      const encode = createDataPayloadEncoder(await hashStepId("ticks"));
      const log = new FrameLog();
      const payloadOf = (index: number) => (index % 1_000 === 999 ? '{"step":null}' : encode(JSON.stringify(`tick ${index}`)));
      for (let index = 0; index < 100_000; index += 1) {
        log.append(1 + Math.floor(index / 30_000), index % 1_000 === 999 ? "commit" : "data", payloadOf(index));
      }
      let after: string | undefined;
      let read = 0;
      const wrong: number[] = [];
      for (;;) {
        const window = log.read(after === undefined ? START_OFFSET : parseOffset(after), 1_000);
        if (window.length === 0) break;
        for (const entry of window) {
          if (entry.payload !== payloadOf(read) || entry.offset !== `${1 + Math.floor(read / 30_000)}-${read + 1}`) wrong.push(read);
          read += 1;
        }
        after = window[window.length - 1]!.offset;
      }
      expect(read).toBe(100_000);
      expect(wrong).toEqual([]);
      expect(log.read(parseOffset("2-59999"), 2).map((entry) => entry.offset)).toEqual(["2-60000", "3-60001"]);
      expect(log.read(parseOffset("1-99999"), 1).map((entry) => entry.offset)).toEqual(["2-30001"]);
      expect(log.read(parseOffset("4-100000"), 1)).toEqual([]);
      expect(log.read(parseOffset("4-99999"), 5).map((entry) => [entry.offset, entry.payload])).toEqual([["4-100000", payloadOf(99_999)]]);
    });
  });

  describe("append", () => {
    it("refuses a frame of an older epoch than the latest: offsets must grow", () => {
      const log = new FrameLog();
      log.append(2, "data", "{}");
      let caught: unknown;
      try {
        log.append(1, "data", "{}");
      } catch (error) {
        caught = error;
      }
      expect(StoreRefusedError.isInstance(caught) && caught.reason).toBe("fenced");
      expect(log.length).toBe(1);
    });
  });

  it("always reads what the model reads, for any frames, epochs and windows", () => {
    const step = fc.constantFrom<string | null>(null, "a".repeat(40), "b".repeat(40), "c");
    const payload = fc.oneof(
      fc.tuple(step, fc.json()).map(([id, json]) => createDataPayloadEncoder(id)(json)),
      fc.tuple(step, fc.string({ unit: "binary", maxLength: 20 })).map(([id, text]) => createDataPayloadEncoder(id)(text)),
      fc.string({ unit: "binary", maxLength: 30 }),
      fc.string({ maxLength: 5_000 }).map((text) => `{"step":null,"data":${JSON.stringify(text)}}`),
    );
    const frame = fc.record({
      type: fc.constantFrom<LogFrameType>("data", "data", "data", "commit", "rollback", "result"),
      payload,
      takeover: fc.integer({ min: 0, max: 9 }).map((roll) => roll === 0),
    });
    const read = fc.record({ epoch: fc.nat({ max: 8 }), sequence: fc.nat({ max: 130 }), limit: fc.integer({ min: -2, max: 130 }) });
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 120 }), fc.array(read, { maxLength: 20 }), (frames, reads) => {
        const { log, model, append } = logs();
        let epoch = 1;
        for (const { type, payload: text, takeover } of frames) {
          if (takeover) epoch += 1;
          append(epoch, type, text);
        }
        for (const { epoch: readEpoch, sequence, limit } of reads) {
          expect(log.read({ epoch: readEpoch, sequence }, limit)).toEqual(model.read({ epoch: readEpoch, sequence }, limit));
        }
        expect(all(log)).toEqual(model.read(START_OFFSET, Infinity));
      }),
      { numRuns: 150 },
    );
  });
});
