import { afterEach, describe, expect, it, vi } from "vitest";
import { createSubscribable } from "./subscribable.js";

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("createSubscribable", () => {
  it("calls every listener with the value, in subscription order, until it unsubscribes", () => {
    const subscribable = createSubscribable<number>();
    const seen: string[] = [];
    const stopA = subscribable.subscribe((value) => seen.push(`a${value}`));
    subscribable.subscribe((value) => seen.push(`b${value}`));
    expect(subscribable.size).toBe(2);
    subscribable.notify(1);
    stopA();
    subscribable.notify(2);
    expect(seen).toEqual(["a1", "b1", "b2"]);
    expect(subscribable.size).toBe(1);
  });

  it("counts a function subscribed twice as two subscriptions, each removed once by its own unsubscribe", () => {
    const subscribable = createSubscribable();
    let calls = 0;
    const listener = (): void => void (calls += 1);
    const stopFirst = subscribable.subscribe(listener);
    subscribable.subscribe(listener);
    subscribable.notify();
    expect(calls).toBe(2);
    stopFirst();
    stopFirst();
    subscribable.notify();
    expect(calls).toBe(3);
    expect(subscribable.size).toBe(1);
  });

  it("skips a listener unsubscribed during a notification before its turn, and calls one subscribed during it", () => {
    const subscribable = createSubscribable();
    const seen: string[] = [];
    let stopB = (): void => {};
    const stopA = subscribable.subscribe(() => {
      seen.push("a");
      stopA(); // itself
      stopB(); // a later one
      subscribable.subscribe(() => seen.push("c"));
    });
    stopB = subscribable.subscribe(() => seen.push("b"));
    subscribable.notify();
    expect(seen).toEqual(["a", "c"]);
    subscribable.notify();
    expect(seen).toEqual(["a", "c", "c"]);
  });

  it("keeps calling the other listeners when one throws, and rethrows its error in a microtask", () => {
    const reported: (() => void)[] = [];
    vi.stubGlobal("queueMicrotask", (callback: () => void) => void reported.push(callback));
    const subscribable = createSubscribable<string>();
    const seen: string[] = [];
    subscribable.subscribe(() => {
      throw new Error("listener bug");
    });
    subscribable.subscribe((value) => seen.push(value));

    expect(() => subscribable.notify("x")).not.toThrow();
    expect(seen).toEqual(["x"]);
    expect(reported).toHaveLength(1);
    expect(reported[0]).toThrow("listener bug");
  });
});
