import { describe, expect, it } from "vitest";
import { InvalidOptionsError } from "./errors.js";
import { checkOptionalFunction, checkOptionalMilliseconds, checkStoreClock, checkStoreRetention, invalidOption } from "./option-checks.js";

function thrown(check: () => void): InvalidOptionsError {
  try {
    check();
  } catch (error) {
    if (InvalidOptionsError.isInstance(error)) return error;
    throw error;
  }
  throw new Error("did not throw");
}

describe("option checks", () => {
  it("say who, which option, what it must be, and what it got", () => {
    const error = invalidOption("Thing", "size", "a number", "big");
    expect(error.code).toBe("INVALID_OPTIONS");
    expect(error.message).toBe('Thing: "size" must be a number; got "big".');
  });

  it("accept undefined and milliseconds >= 0; refuse the rest", () => {
    for (const ok of [undefined, 0, 1.5, 86_400_000]) expect(() => checkOptionalMilliseconds("T", "wait", ok)).not.toThrow();
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, "5", null]) {
      expect(thrown(() => checkOptionalMilliseconds("T", "wait", bad)).message).toMatch(/^T: "wait" must be milliseconds >= 0; got /);
    }
  });

  it("accept undefined and functions", () => {
    expect(() => checkOptionalFunction("T", "onError", undefined)).not.toThrow();
    expect(() => checkOptionalFunction("T", "onError", () => {})).not.toThrow();
    expect(thrown(() => checkOptionalFunction("T", "onError", "log", "a function (error) => void")).message).toBe(
      'T: "onError" must be a function (error) => void; got "log".',
    );
  });

  it("check a store's retention and clock with the same words in every store", () => {
    expect(thrown(() => checkStoreRetention("SqliteRunStore", -1, "24 hours")).message).toBe(
      'SqliteRunStore: "retention" must be milliseconds >= 0 (how long finished runs are kept, default 24 hours), e.g. { retention: 60 * 60_000 }; got -1.',
    );
    expect(thrown(() => checkStoreClock("RedisRunStore", 5)).message).toBe(
      'RedisRunStore: "now" must be a function returning epoch-milliseconds, e.g. { now: () => Date.now() }; got 5.',
    );
  });
});
