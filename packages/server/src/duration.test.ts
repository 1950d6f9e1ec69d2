import { describe, expect, it } from "vitest";
import { toMilliseconds } from "./duration.js";

describe("toMilliseconds", () => {
  it.each([
    [1500, 1500],
    ["500ms", 500],
    ["30s", 30_000],
    ["5m", 300_000],
    ["2h", 7_200_000],
    ["1d", 86_400_000],
    ["1w", 604_800_000],
    ["1h30m", 5_400_000],
    ["1.5s", 1500],
  ])("%s → %d ms", (input, expected) => {
    expect(toMilliseconds(input, "test")).toBe(expected);
  });

  it.each([["-1"], ["soon"], ["5 parsecs"], [-5], [Number.NaN], ["1h 30x"]])("refuses %s with a message that shows the accepted forms", (input) => {
    expect(() => toMilliseconds(input as string, 'step.sleep("x")')).toThrow(
      /step\.sleep\("x"\): .* is not a duration; pass milliseconds >= 0 or a string like "500ms"/,
    );
  });
});
