import { DurableError, DurastreamError, InvalidOptionsError } from "@durastream/server";
import { describe, expect, it } from "vitest";
import { DurableAiError } from "./errors.js";
import { createMockModel } from "./mock-model.js";
import { pipeModel } from "./pipe-model.js";

describe("DurableAiError", () => {
  it("has a name, a code and a cause, and isInstance recognises it across copies by a global symbol", () => {
    const cause = new Error("root");
    const error = new DurableAiError("MOCK_FAILURE", "injected", { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: "DurableAiError", code: "MOCK_FAILURE", message: "injected", cause });
    expect(DurableAiError.isInstance(error)).toBe(true);
    // A second copy of the package: a separately defined class carrying the same Symbol.for marker.
    class OtherCopy extends Error {
      constructor() {
        super("other copy");
        Object.defineProperty(this, Symbol.for("durastream.error.DurableAiError"), { value: true });
      }
    }
    expect(DurableAiError.isInstance(new OtherCopy())).toBe(true);
    expect(DurableAiError.isInstance(new Error("plain"))).toBe(false);
    expect(DurableAiError.isInstance(null)).toBe(false);
  });

  it("is a DurastreamError, and isInstance is exact across the error classes", () => {
    const error = new DurableAiError("MODEL_STREAM_ERROR", "m");
    expect(error).toBeInstanceOf(DurastreamError);
    expect(DurastreamError.isInstance(error)).toBe(true);
    expect(DurableError.isInstance(error)).toBe(false);
    expect(InvalidOptionsError.isInstance(error)).toBe(false);
    expect(DurableAiError.isInstance(new DurableError("TIMEOUT", "m"))).toBe(false);
    expect(DurableAiError.isInstance(new DurastreamError("MOCK_FAILURE", "m"))).toBe(false);
  });
});

describe("option validation", () => {
  it("throws InvalidOptionsError (code INVALID_OPTIONS), not DurableAiError, for bad options", async () => {
    const failures: unknown[] = [];
    try {
      createMockModel({ chunking: 0 });
    } catch (error) {
      failures.push(error);
    }
    failures.push(await pipeModel({} as never, { call: { prompt: [] } } as never).catch((error: unknown) => error));
    expect(failures).toHaveLength(2);
    for (const error of failures) {
      expect(InvalidOptionsError.isInstance(error)).toBe(true);
      expect(DurableAiError.isInstance(error)).toBe(false);
      expect(error).toMatchObject({ name: "InvalidOptionsError", code: "INVALID_OPTIONS" });
    }
  });
});
