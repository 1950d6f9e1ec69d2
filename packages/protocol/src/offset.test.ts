import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ProtocolError } from "./errors.js";
import { START_OFFSET, compareOffsets, formatOffset, isOffset, parseOffset, type Offset } from "./offset.js";

describe("formatOffset", () => {
  it('writes "<epoch>-<sequence>" in decimal', () => {
    expect(formatOffset({ epoch: 1, sequence: 42 })).toBe("1-42");
    expect(formatOffset({ epoch: 12, sequence: 0 })).toBe("12-0");
  });
});

describe("START_OFFSET", () => {
  it("is 0-0, frozen, and sorts before every offset a log can hold", () => {
    expect(formatOffset(START_OFFSET)).toBe("0-0");
    expect(Object.isFrozen(START_OFFSET)).toBe(true);
    expect(compareOffsets(START_OFFSET, { epoch: 0, sequence: 1 })).toBeLessThan(0);
    expect(compareOffsets(START_OFFSET, { epoch: 1, sequence: 0 })).toBeLessThan(0);
  });
});

describe("parseOffset", () => {
  it("reads epoch and sequence", () => {
    expect(parseOffset("1-42")).toEqual({ epoch: 1, sequence: 42 });
    expect(parseOffset("0-0")).toEqual({ epoch: 0, sequence: 0 });
  });

  it("reads 15-digit parts exactly", () => {
    expect(parseOffset("999999999999999-123456789012345")).toEqual({ epoch: 999_999_999_999_999, sequence: 123_456_789_012_345 });
  });

  it.each([
    "",
    "1",
    "1-",
    "-1",
    "-1-2",
    "a-b",
    "1-2-3",
    "1.0-2",
    "1e3-2",
    "+1-2",
    " 1-2",
    "1-2 ",
    "1-2\n",
    "0x1-2",
    "1_2",
    "1\u20132", // en dash
    "\u0661-\u0662", // Arabic-Indic digits
    "1-1234567890123456", // 16 digits could exceed Number.MAX_SAFE_INTEGER
    "1234567890123456-1",
  ])("rejects %j with INVALID_OFFSET", (text) => {
    let caught: unknown;
    try {
      parseOffset(text);
    } catch (error) {
      caught = error;
    }
    expect(ProtocolError.isInstance(caught)).toBe(true);
    expect((caught as ProtocolError).code).toBe("INVALID_OFFSET");
    expect((caught as ProtocolError).message).toContain("<epoch>-<sequence>");
  });

  it("quotes at most 64 characters of the bad input in its message", () => {
    expect(() => parseOffset("x".repeat(1000))).toThrow(/^"x{64}" is not/);
  });

  it("inverts formatOffset", () => {
    const part = fc.nat({ max: 999_999_999_999_999 });
    fc.assert(
      fc.property(part, part, (epoch, sequence) => {
        expect(parseOffset(formatOffset({ epoch, sequence }))).toEqual({ epoch, sequence });
      }),
    );
  });
});

describe("compareOffsets", () => {
  it("orders by epoch first: a frame written after a takeover sorts after the old epoch's frames", () => {
    expect(compareOffsets(parseOffset("1-999"), parseOffset("2-3"))).toBeLessThan(0);
    expect(compareOffsets(parseOffset("2-3"), parseOffset("1-999"))).toBeGreaterThan(0);
  });

  it("orders by sequence within an epoch, numerically rather than as text", () => {
    expect(compareOffsets(parseOffset("1-9"), parseOffset("1-10"))).toBeLessThan(0);
    expect(compareOffsets(parseOffset("1-10"), parseOffset("1-9"))).toBeGreaterThan(0);
    expect("1-9" < "1-10").toBe(false); // why offsets must not be compared as strings
  });

  it("is 0 for equal offsets", () => {
    expect(compareOffsets(parseOffset("3-7"), { epoch: 3, sequence: 7 })).toBe(0);
  });

  it("sorts like the (epoch, sequence) pair, antisymmetrically", () => {
    const offset: fc.Arbitrary<Offset> = fc.record({ epoch: fc.nat({ max: 20 }), sequence: fc.nat({ max: 20 }) });
    fc.assert(
      fc.property(offset, offset, (a, b) => {
        const expected = a.epoch < b.epoch || (a.epoch === b.epoch && a.sequence < b.sequence) ? -1 : a.epoch === b.epoch && a.sequence === b.sequence ? 0 : 1;
        expect(Math.sign(compareOffsets(a, b))).toBe(expected);
        expect(Math.sign(compareOffsets(b, a))).toBe(expected === 0 ? 0 : -expected);
      }),
    );
  });
});

describe("isOffset", () => {
  it("agrees with parseOffset on valid and invalid offsets", () => {
    for (const text of [
      "1-42",
      "0-0",
      "123456789012345-1",
      "1-123456789012345",
      "1-",
      "-1",
      "1--2",
      "a-1",
      "1-1a",
      "1234567890123456-1",
      "1-1234567890123456",
      "",
      "1",
      "1-2-3",
      " 1-2",
    ]) {
      let parses = true;
      try {
        parseOffset(text);
      } catch {
        parses = false;
      }
      expect(isOffset(text), text).toBe(parses);
    }
  });
});
