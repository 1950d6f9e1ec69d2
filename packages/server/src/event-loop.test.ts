import { describe, expect, it } from "vitest";
import { afterTurn, nextTurn } from "./event-loop.js";

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("afterTurn", () => {
  it("runs the callbacks of one turn together, after the turn, in order", async () => {
    const order: string[] = [];
    afterTurn(() => order.push("a"));
    afterTurn(() => order.push("b"));
    await Promise.resolve();
    expect(order).toEqual([]);
    await turn();
    expect(order).toEqual(["a", "b"]);
  });

  it("defers a callback queued while the batch runs to the next turn", async () => {
    const order: string[] = [];
    afterTurn(() => {
      order.push("first");
      afterTurn(() => order.push("queued by first"));
    });
    afterTurn(() => order.push("second"));
    await turn();
    expect(order).toEqual(["first", "second"]);
    await turn();
    expect(order).toEqual(["first", "second", "queued by first"]);
  });

  it("runs the other callbacks when one throws, and the error still surfaces", async () => {
    const errors: unknown[] = [];
    const onError = (error: unknown) => errors.push(error);
    process.on("uncaughtException", onError);
    try {
      const order: string[] = [];
      afterTurn(() => {
        throw new Error("boom");
      });
      afterTurn(() => order.push("after the failure"));
      await turn();
      await turn();
      expect(order).toEqual(["after the failure"]);
      expect(errors).toEqual([new Error("boom")]);
    } finally {
      process.off("uncaughtException", onError);
    }
  });
});

describe("nextTurn", () => {
  it("gives every caller in one turn the same promise", async () => {
    const first = nextTurn();
    expect(nextTurn()).toBe(first);
    await first;
    expect(nextTurn()).not.toBe(first);
  });
});
