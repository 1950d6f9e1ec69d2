import { describe, expect, it, vi } from "vitest";
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

describe("afterTurn when a macrotask is dropped", () => {
  // workerd drops the timers of a request whose context has finished: the batch waiting for such
  // a macrotask must still run once a later request queues a callback.
  it("runs the waiting batch from a macrotask scheduled by a call in a later turn", async () => {
    await turn(); // nothing of the tests before is still waiting
    const realSetImmediate = globalThis.setImmediate;
    let dropping = false;
    let dropped = 0;
    const spy = vi.spyOn(globalThis, "setImmediate").mockImplementation(((callback: (...args: unknown[]) => void, ...args: unknown[]) => {
      if (dropping) {
        dropped += 1; // a macrotask of a request that has finished: it never fires
        return undefined as unknown as NodeJS.Immediate;
      }
      return realSetImmediate(callback, ...args);
    }) as typeof setImmediate);
    try {
      const order: string[] = [];
      dropping = true;
      afterTurn(() => order.push("from the finished request"));
      const waiting = nextTurn();
      dropping = false;
      await new Promise<void>((resolve) => realSetImmediate(resolve));
      await new Promise<void>((resolve) => realSetImmediate(resolve));
      expect(dropped).toBe(1);
      expect(order).toEqual([]); // its macrotask was dropped
      // A later turn (the next request) queues a callback: all three run after that turn.
      afterTurn(() => order.push("from the next request"));
      await waiting;
      expect(order).toEqual(["from the finished request", "from the next request"]);
      // nextTurn in a later turn does not hand out the promise of the finished request.
      dropping = true;
      const stale = nextTurn();
      dropping = false;
      await new Promise<void>((resolve) => realSetImmediate(resolve));
      const fresh = nextTurn();
      expect(fresh).not.toBe(stale);
      await Promise.all([stale, fresh]);
    } finally {
      spy.mockRestore();
    }
  }, 2_000);

  it("runs a batch once when both of its macrotasks fire, and keeps later callbacks for the next turn", async () => {
    const order: string[] = [];
    afterTurn(() => order.push("a"));
    await Promise.resolve(); // the turn's microtasks have run: a call now schedules a spare macrotask
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    afterTurn(() => {
      order.push("b");
      afterTurn(() => order.push("queued by b"));
    });
    await turn();
    expect(order).toEqual(["a", "b"]);
    await turn();
    expect(order).toEqual(["a", "b", "queued by b"]);
  });
});
