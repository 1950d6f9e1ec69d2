import { describe, expect, it } from "vitest";
import { TextAccumulator } from "./text-accumulator.js";

describe("TextAccumulator", () => {
  it("is empty before anything is added", () => {
    expect(new TextAccumulator().text()).toBe("");
  });

  it("returns every piece in order, across block boundaries", () => {
    for (const count of [1, 63, 64, 65, 128, 1000]) {
      const accumulator = new TextAccumulator();
      const pieces = Array.from({ length: count }, (_, index) => `${index}é,`);
      for (const piece of pieces) accumulator.add(piece);
      expect(accumulator.text()).toBe(pieces.join(""));
    }
  });

  it("can be read in the middle and goes on", () => {
    const accumulator = new TextAccumulator();
    for (let index = 0; index < 70; index += 1) accumulator.add("a");
    expect(accumulator.text()).toBe("a".repeat(70));
    accumulator.add("b");
    expect(accumulator.text()).toBe(`${"a".repeat(70)}b`);
  });
});
