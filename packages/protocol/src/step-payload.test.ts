import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeEvent } from "./decode.js";
import { encodeFramePayload } from "./encode.js";
import type { HashedStepId } from "./frames.js";
import { hashStepId } from "./step-id.js";
import {
  MAX_DATA_PAYLOAD_PREFIX_LENGTH,
  createDataPayloadEncoder,
  dataPayloadPrefix,
  dataPayloadPrefixLength,
  encodeDataPayload,
  isOutsideStepPayload,
  stepOfPayload,
} from "./step-payload.js";

const anyStep: fc.Arbitrary<HashedStepId> = fc.oneof(
  fc.constant(null),
  fc.stringMatching(/^[0-9a-f]{40}$/),
  fc.string({ unit: "binary", minLength: 1, maxLength: 12 }),
);
const error = fc.record({ name: fc.string(), message: fc.string() });

describe("step payload layout (property)", () => {
  it("is the full encoder's data payload, decodes back through the full decoder, and is read back by every helper", () => {
    fc.assert(
      fc.property(anyStep, fc.jsonValue({ stringUnit: "binary", maxDepth: 3 }), fc.nat({ max: 5 }), error, (step, data, attempt, wireError) => {
        const dataJson = JSON.stringify(data);
        const payload = encodeDataPayload(step, dataJson);
        // Agreement with the full encoder and the encoder built once per step.
        expect(payload).toBe(encodeFramePayload({ type: "data", hashedStepId: step, data }));
        expect(createDataPayloadEncoder(step)(dataJson)).toBe(payload);
        // Round trip through JSON and through the full decoder.
        expect(JSON.parse(payload)).toEqual({ step, data: JSON.parse(dataJson) });
        expect(decodeEvent({ event: "data", id: "1-1", data: payload })).toEqual({
          type: "data",
          offset: "1-1",
          hashedStepId: step,
          data: JSON.parse(dataJson),
        });
        // The opening is found again without parsing, and splits the payload exactly.
        const prefix = dataPayloadPrefix(step);
        expect(payload.startsWith(prefix)).toBe(true);
        expect(dataPayloadPrefixLength(payload)).toBe(prefix.length <= MAX_DATA_PAYLOAD_PREFIX_LENGTH ? prefix.length : -1);
        // Data, commit and rollback payloads all name their step where the peeks look for it.
        const commit = encodeFramePayload({ type: "commit", hashedStepId: step });
        const rollback = encodeFramePayload({ type: "rollback", hashedStepId: step, attempt: attempt + 1, willRetry: false, error: wireError });
        const plain = step === null || JSON.stringify(step) === `"${step}"`;
        for (const framePayload of [payload, commit, rollback]) {
          expect(isOutsideStepPayload(framePayload)).toBe(step === null);
          if (plain) expect(stepOfPayload(framePayload)).toBe(step);
        }
      }),
    );
  });
});

describe("dataPayloadPrefixLength", () => {
  it("finds the opening the encoder writes, for a hashed step id and for null", async () => {
    const hashed = await hashStepId("generate");
    const payload = createDataPayloadEncoder(hashed)('{"text":"hi"}');
    expect(payload.slice(0, dataPayloadPrefixLength(payload))).toBe(`{"step":"${hashed}","data":`);
    const outside = createDataPayloadEncoder(null)('"tok"');
    expect(outside.slice(0, dataPayloadPrefixLength(outside))).toBe('{"step":null,"data":');
  });

  it('stops at the first ,"data": even when the chunk holds another', () => {
    const payload = '{"step":null,"data":{"x":1,"data":2}}';
    expect(dataPayloadPrefixLength(payload)).toBe('{"step":null,"data":'.length);
  });

  it("accepts an empty chunk: the opening is still shorter than the payload", () => {
    expect(dataPayloadPrefixLength('{"step":null,"data":}')).toBe(20);
  });

  it.each([
    "",
    "}",
    '"hello"',
    '{"data":"hi","step":null}',
    '{"step":null,"data":"no closing brace"',
    '{"step":null}',
    ' {"step":null,"data":1}',
    '{"step" :null,"data":1}',
    '{"step":null, "data":1}',
  ])("returns -1 for %j", (payload) => {
    expect(dataPayloadPrefixLength(payload)).toBe(-1);
  });

  it("gives up on openings longer than the bound, however long the payload", () => {
    const atBound = `{"step":"${"a".repeat(MAX_DATA_PAYLOAD_PREFIX_LENGTH - 18)}","data":1}`;
    expect(dataPayloadPrefixLength(atBound)).toBe(MAX_DATA_PAYLOAD_PREFIX_LENGTH);
    const overBound = `{"step":"${"a".repeat(MAX_DATA_PAYLOAD_PREFIX_LENGTH - 17)}","data":1}`;
    expect(dataPayloadPrefixLength(overBound)).toBe(-1);
    expect(dataPayloadPrefixLength(`{"step":${"x".repeat(1_000_000)},"data":1}`)).toBe(-1);
  });
});

describe("stepOfPayload and isOutsideStepPayload", () => {
  it("read the step a payload opens with, and nothing from other shapes", () => {
    expect(stepOfPayload('{"step":"ab","data":1}')).toBe("ab");
    expect(stepOfPayload('{"step":null,"attempt":1}')).toBe(null);
    expect(stepOfPayload('{"data":1,"step":null}')).toBeUndefined();
    expect(stepOfPayload("")).toBeUndefined();
    expect(isOutsideStepPayload('{"step":null}')).toBe(true);
    expect(isOutsideStepPayload('{"step":"n"}')).toBe(false);
    expect(isOutsideStepPayload("")).toBe(false);
  });
});
