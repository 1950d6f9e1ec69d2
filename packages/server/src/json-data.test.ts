import { describe, expect, it } from "vitest";
import { DurableError } from "./errors.js";
import { toJson } from "./json-data.js";

describe("toJson", () => {
  it("serializes strings and plain JSON exactly as JSON.stringify does", () => {
    for (const value of ["héllo \n 中", 0, -1.5, true, null, [1, "a", null], { a: { b: [1] } }, new Date(0)]) {
      expect(toJson(value, "x", "INVALID_STREAM_DATA")).toBe(JSON.stringify(value));
    }
  });

  it.each([
    [{ a: () => 1 }, "$.a is a function"],
    [[Symbol("s")], "$[0] is a symbol"],
    [{ n: 10n }, "$.n is a BigInt"],
    [{ x: Number.NaN }, "$.x is NaN"],
    [{ m: new Map() }, "$.m is a Map"],
    [{ s: new Set([1]) }, "$.s is a Set"],
    [{ bytes: new Uint8Array(2) }, "$.bytes is a typed array"],
    [undefined, "got undefined"],
  ])("refuses %o naming the problem", (value, problem) => {
    let thrown: unknown;
    try {
      toJson(value, "stream.push(data): data", "INVALID_STREAM_DATA");
    } catch (error) {
      thrown = error;
    }
    expect(DurableError.isInstance(thrown) && thrown.code).toBe("INVALID_STREAM_DATA");
    expect((thrown as Error).message).toContain(problem);
    expect((thrown as Error).message).toContain("stream.push(data): data must be JSON-serializable");
  });

  it("names a cycle", () => {
    const list: unknown[] = [];
    list.push({ back: list });
    expect(() => toJson(list, "data", "INVALID_STEP_OUTPUT")).toThrow("$[0].back is a circular reference");
  });
});
