import { describe, expect, it } from "vitest";
import { TransitionTable } from "./transition-table.js";

describe("TransitionTable", () => {
  it("is empty at first: no entry covers any position", () => {
    const table = new TransitionTable<string>();
    expect(table.length).toBe(0);
    expect(table.lastValue).toBeUndefined();
    expect(table.indexAt(0)).toBe(-1);
    expect(table.endAt(-1)).toBe(Infinity);
    expect(table.findLast(() => true)).toBe(-1);
  });

  it("finds the entry covering each position, and where each entry ends", () => {
    const table = new TransitionTable<string>();
    table.push(0, "a");
    table.push(3, "b");
    table.push(10, "c");
    expect(table.length).toBe(3);
    expect(table.lastValue).toBe("c");
    expect([0, 1, 2, 3, 9, 10, 1_000].map((position) => table.valueAt(table.indexAt(position)))).toEqual(["a", "a", "a", "b", "b", "c", "c"]);
    expect([table.startAt(0), table.startAt(1), table.startAt(2)]).toEqual([0, 3, 10]);
    expect([table.endAt(-1), table.endAt(0), table.endAt(1), table.endAt(2)]).toEqual([0, 3, 10, Infinity]);
  });

  it("says no entry covers positions before the first start", () => {
    const table = new TransitionTable<number>();
    table.push(5, 7);
    expect(table.indexAt(4)).toBe(-1);
    expect(table.indexAt(5)).toBe(0);
  });

  it("finds the last entry a monotone predicate holds for", () => {
    const table = new TransitionTable<number>();
    for (const [start, epoch] of [
      [0, 1],
      [4, 2],
      [9, 5],
      [12, 6],
    ] as const)
      table.push(start, epoch);
    const lastAtOrBelow = (epoch: number) => table.findLast((value) => value <= epoch);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(lastAtOrBelow)).toEqual([-1, 0, 1, 1, 1, 2, 3, 3]);
    expect(table.findLast((_value, start) => start < 9)).toBe(1);
  });

  it("keeps many entries in order", () => {
    const table = new TransitionTable<number>();
    for (let entry = 0; entry < 1_000; entry += 1) table.push(entry * 2, entry);
    for (let position = 0; position < 2_000; position += 1) expect(table.valueAt(table.indexAt(position))).toBe(position >> 1);
  });
});
