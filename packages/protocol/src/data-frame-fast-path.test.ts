import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DataFrameFastPath } from "./data-frame-fast-path.js";
import { decodeEvent } from "./decode.js";
import { encodeDataPayload } from "./step-payload.js";
import type { Frame } from "./frames.js";

const STEP = "9e59d42533de13285d6ef99427563967a25bfcf7";
const OTHER_STEP = "729ddfa0e7394f74523dc72de012e1370dcf5c53";

/** What `decodeEvent` makes of a data event, or the code of the error it throws. */
function decodeSlowly(offset: string | undefined, json: string): Frame | string {
  try {
    return decodeEvent({ event: "data", id: offset, data: json });
  } catch (error) {
    return (error as { code: string }).code;
  }
}

const offset = fc.tuple(fc.nat({ max: 99 }), fc.nat({ max: 999_999 })).map(([epoch, sequence]) => `${epoch}-${sequence}`);
const anyStep = fc.oneof(fc.constant(null), fc.stringMatching(/^[0-9a-f]{40}$/), fc.string({ unit: "binary", maxLength: 12 }));

describe("DataFrameFastPath", () => {
  it("decodes what the encoder writes exactly as decodeEvent does, and takes the fast path when it can", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(offset, anyStep, fc.jsonValue({ stringUnit: "binary", maxDepth: 3 })), { minLength: 1, maxLength: 6 }), (frames) => {
        const fastPath = new DataFrameFastPath();
        for (const [frameOffset, step, data] of frames) {
          const json = encodeDataPayload(step, JSON.stringify(data));
          const fast = fastPath.decode(frameOffset, json);
          if (fast !== undefined) expect(fast).toEqual(decodeSlowly(frameOffset, json));
          // Only a step id that needs JSON escapes (or an empty one) leaves the fast path.
          const plain = step === null || (step !== "" && JSON.stringify(step) === `"${step}"`);
          expect(fast !== undefined).toBe(plain);
        }
      }),
    );
  });

  it("never returns a frame decodeEvent would not, whatever follows the envelope", () => {
    const envelope = fc.constantFrom('{"step":null,"data":', `{"step":"${STEP}","data":`, '{"step":"', '{"step":"a', '{"step":"a\u0001', "");
    const tail = fc.oneof(
      fc.string({ unit: "binary", maxLength: 30 }),
      fc.constantFrom("1}", '"x"}', "}", '1,"later":"field"}', '"a"},{"b":1}', "1 }", " null}", '"\\u0000"}', '"a\u0001"}'),
    );
    const id = fc.oneof(offset, fc.constantFrom(undefined, "", "7", "1-x", "01-2 "));
    fc.assert(
      fc.property(fc.array(fc.tuple(id, envelope, tail), { minLength: 1, maxLength: 6 }), (events) => {
        const fastPath = new DataFrameFastPath();
        fastPath.decode("1-1", `{"step":"${STEP}","data":0}`); // a known step, as in a running stream
        for (const [eventId, head, rest] of events) {
          const json = head + rest;
          const fast = fastPath.decode(eventId, json);
          if (fast !== undefined) expect(fast).toEqual(decodeSlowly(eventId, json));
        }
      }),
    );
  });

  it("reuses the step id string of the previous frame, and follows the stream to another step", () => {
    const fastPath = new DataFrameFastPath();
    const first = fastPath.decode("1-1", `{"step":"${STEP}","data":"a"}`)!;
    const second = fastPath.decode("1-2", `{"step":"${STEP}","data":"b"}`)!;
    expect(second.hashedStepId).toBe(first.hashedStepId);
    expect(fastPath.decode("1-3", `{"step":"${OTHER_STEP}","data":"c"}`)).toEqual({
      type: "data",
      offset: "1-3",
      hashedStepId: OTHER_STEP,
      data: "c",
    });
    expect(fastPath.decode("1-4", '{"step":null,"data":"d"}')?.hashedStepId).toBeNull();
    // Interleaved steps (steps running in parallel) still decode right.
    expect(fastPath.decode("1-5", `{"step":"${STEP}","data":"e"}`)?.hashedStepId).toBe(STEP);
    expect(fastPath.decode("1-6", `{"step":"${OTHER_STEP}","data":"f"}`)?.hashedStepId).toBe(OTHER_STEP);
  });

  it.each([
    ["no offset", undefined, '{"step":null,"data":1}'],
    ["an empty offset", "", '{"step":null,"data":1}'],
    ["a bad offset", "1-x", '{"step":null,"data":1}'],
    ["keys in another order", "1-1", '{"data":1,"step":null}'],
    ["a key after data", "1-1", '{"step":null,"data":1,"later":true}'],
    ["whitespace in the envelope", "1-1", '{ "step":null,"data":1}'],
    ["a step id with an escape", "1-1", '{"step":"a\\"b","data":1}'],
    ["a control character in the step id", "1-1", '{"step":"a\u0001b","data":1}'],
    ["an empty step id", "1-1", '{"step":"","data":1}'],
    ["a step id that is not a string", "1-1", '{"step":1,"data":1}'],
    ["data that is not JSON", "1-1", '{"step":null,"data":nope}'],
    ["no data value", "1-1", '{"step":null,"data":}'],
    ["no closing brace", "1-1", '{"step":null,"data":1'],
    ["no data key", "1-1", '{"step":null}'],
  ])("leaves a payload with %s to decodeEvent", (_name, frameOffset, json) => {
    expect(new DataFrameFastPath().decode(frameOffset, json)).toBeUndefined();
  });

  it("accepts whitespace around the chunk's value, as JSON does", () => {
    expect(new DataFrameFastPath().decode("2-3", '{"step":null,"data": [1, 2] }')).toEqual({
      type: "data",
      offset: "2-3",
      hashedStepId: null,
      data: [1, 2],
    });
  });
});
