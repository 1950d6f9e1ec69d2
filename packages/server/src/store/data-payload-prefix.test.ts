import { createDataPayloadEncoder, hashStepId } from "@durastream/protocol";
import { describe, expect, it } from "vitest";
import { dataPayloadPrefixLength, MAX_DATA_PAYLOAD_PREFIX_LENGTH } from "./data-payload-prefix.js";

describe("dataPayloadPrefixLength", () => {
  it("finds the opening the encoder writes, for a hashed step id and for null", async () => {
    const hashed = await hashStepId("generate");
    const payload = createDataPayloadEncoder(hashed)('{"text":"hi"}');
    expect(payload.slice(0, dataPayloadPrefixLength(payload))).toBe(`{"step":"${hashed}","data":`);
    const outside = createDataPayloadEncoder(null)('"tok"');
    expect(outside.slice(0, dataPayloadPrefixLength(outside))).toBe('{"step":null,"data":');
  });

  it("stops at the first ,\"data\": even when the chunk holds another", () => {
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
