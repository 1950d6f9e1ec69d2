import { describe, expect, it } from "vitest";
import { ChunkBuffer, emptyChunkList } from "./chunk-list.js";

describe("ChunkList views over a shared append-only buffer", () => {
  it("keeps a view's length, items and array when the buffer grows", () => {
    const buffer = new ChunkBuffer<string>(["a"]);
    const first = buffer.view();
    const firstArray = first.toArray();
    buffer.append("b");
    buffer.append("c");
    const second = buffer.view();

    expect(first.length).toBe(1);
    expect([...first]).toEqual(["a"]);
    expect(first.toArray()).toBe(firstArray);
    expect(firstArray).toEqual(["a"]);
    expect(second.length).toBe(3);
    expect([...second]).toEqual(["a", "b", "c"]);
  });

  it("returns the same view until the next append, and a frozen array built once", () => {
    const buffer = new ChunkBuffer<number>();
    buffer.append(1);
    const view = buffer.view();
    expect(buffer.view()).toBe(view);
    const array = view.toArray();
    expect(Object.isFrozen(array)).toBe(true);
    expect(Object.isFrozen(view)).toBe(true);
    expect(view.toArray()).toBe(array);
    buffer.append(2);
    expect(buffer.view()).not.toBe(view);
  });

  it("indexes like Array.prototype.at, within the view only", () => {
    const buffer = new ChunkBuffer(["a", "b", "c"]);
    const view = buffer.view();
    buffer.append("d");
    expect(view.at(0)).toBe("a");
    expect(view.at(-1)).toBe("c");
    expect(view.at(-3)).toBe("a");
    expect(view.at(1.7)).toBe("b");
    expect(view.at(3)).toBeUndefined(); // "d" is past this view's end
    expect(view.at(-4)).toBeUndefined();
    expect(view.at(Number.NaN)).toBe("a");
  });

  it("copies the initial items and appends whole lists in order", () => {
    const initial = ["x"];
    const buffer = new ChunkBuffer(initial);
    initial.push("changed later");
    const other = new ChunkBuffer(["y", "z"]);
    buffer.appendAll(other.view());
    buffer.appendAll(emptyChunkList());
    expect(buffer.view().toArray()).toEqual(["x", "y", "z"]);
  });

  it("has one shared empty list", () => {
    expect(emptyChunkList<string>()).toBe(emptyChunkList<number>());
    expect(emptyChunkList().length).toBe(0);
    expect(emptyChunkList().toArray()).toEqual([]);
  });
});
