import { describe, expect, it } from "vitest";
import { DurableAiError } from "./errors.js";

describe("DurableAiError", () => {
  it("has a name, a code and a cause, and isInstance recognises it across copies by a global symbol", () => {
    const cause = new Error("root");
    const error = new DurableAiError("MOCK_FAILURE", "injected", { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: "DurableAiError", code: "MOCK_FAILURE", message: "injected", cause });
    expect(DurableAiError.isInstance(error)).toBe(true);
    const foreign = Object.assign(new Error("other copy"), { [Symbol.for("@durastream/ai/error")]: true });
    expect(DurableAiError.isInstance(foreign)).toBe(true);
    expect(DurableAiError.isInstance(new Error("plain"))).toBe(false);
    expect(DurableAiError.isInstance(null)).toBe(false);
  });
});
