import { ORIGIN, commitFrame, controlledStream, dataFrame, durableRun, resultFrame, snapshotWhere, sse } from "@durastream/client-testing";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createDurableStream } from "./durable-stream.js";
import { throttleSnapshots } from "./throttled-snapshots.js";

afterEach(() => vi.useRealTimers());

const { metadata } = durableRun("01JTHROTTLE000000000000000");

/** A store fed by a stream the test writes to (no server needed). */
function storeWithBody() {
  const body = controlledStream();
  const store = createDurableStream<string>({
    url: `${ORIGIN}/api/chat`,
    fetch: async () => new Response(body.stream, { headers: { "content-type": "text/event-stream" } }),
  });
  return { body, store };
}

describe("throttleSnapshots", () => {
  it("publishes a status change at once, then the latest frames once per interval, and the end at once", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const { body, store } = storeWithBody();
    const source = throttleSnapshots(store, () => 100);
    const published: string[] = [];
    const unsubscribe = source.subscribe(() => {
      const { status, uncommittedText } = source.getSnapshot();
      published.push(`${status}:${uncommittedText}`);
    });
    const done = store.start();
    expect(published).toEqual(["connecting:"]);

    body.send(sse(metadata, dataFrame("1-1", "a")));
    await snapshotWhere(store, (snapshot) => snapshot.offset === "1-1");
    expect(published).toEqual(["connecting:", "streaming:"]); // the status change, before 1-1 arrived
    expect(source.getSnapshot()).not.toBe(store.getSnapshot());

    body.send(sse(dataFrame("1-2", "b"), dataFrame("1-3", "c")));
    await snapshotWhere(store, (snapshot) => snapshot.offset === "1-3");
    expect(published).toHaveLength(2);
    vi.advanceTimersByTime(100);
    expect(published.at(-1)).toBe("streaming:abc");

    vi.advanceTimersByTime(500);
    body.send(sse(dataFrame("1-4", "d")));
    await snapshotWhere(store, (snapshot) => snapshot.offset === "1-4");
    expect(published.at(-1)).toBe("streaming:abcd"); // quiet for longer than the interval: at once

    body.send(sse(dataFrame("1-5", "e"), commitFrame("1-6"), resultFrame("1-7", '"abcde"')));
    await done;
    expect(published.at(-1)).toBe("succeeded:");
    expect(source.getSnapshot()).toBe(store.getSnapshot());
    unsubscribe();
  });

  it("stops its timer on unsubscribe, and catches up when subscribed again", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const { body, store } = storeWithBody();
    const source = throttleSnapshots(store, () => 100);
    const onChange = vi.fn();
    const unsubscribe = source.subscribe(onChange);
    void store.start();
    body.send(sse(metadata, dataFrame("1-1", "a"), dataFrame("1-2", "b")));
    await snapshotWhere(store, (snapshot) => snapshot.offset === "1-2");
    const calls = onChange.mock.calls.length;
    unsubscribe();
    vi.advanceTimersByTime(1000);
    expect(onChange).toHaveBeenCalledTimes(calls);
    expect(source.getSnapshot()).not.toBe(store.getSnapshot());
    source.subscribe(onChange)();
    expect(source.getSnapshot()).toBe(store.getSnapshot());
    store.abort();
  });

  it("takes a plain number of milliseconds, and publishes every change when it is 0", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const throttled = storeWithBody();
    const unthrottled = storeWithBody();
    const counts = [throttled, unthrottled].map(({ store }, index) => {
      const source = throttleSnapshots(store, index === 0 ? 100 : 0);
      const seen: string[] = [];
      source.subscribe(() => seen.push(source.getSnapshot().uncommittedText));
      return seen;
    });
    for (const { body, store } of [throttled, unthrottled]) {
      void store.start();
      body.send(sse(metadata));
      await snapshotWhere(store, (snapshot) => snapshot.status === "streaming");
      for (let index = 1; index <= 5; index += 1) body.send(sse(dataFrame(`1-${index}`, String(index))));
      await snapshotWhere(store, (snapshot) => snapshot.offset === "1-5");
    }
    const [throttledSeen, unthrottledSeen] = counts;
    expect(unthrottledSeen!.slice(-5)).toEqual(["1", "12", "123", "1234", "12345"]);
    expect(throttledSeen!.at(-1)).not.toBe("12345"); // held back until the interval is over
    vi.advanceTimersByTime(100);
    expect(throttledSeen!.at(-1)).toBe("12345");
    throttled.store.abort();
    unthrottled.store.abort();
  });

  it("publishes each change to every listener at once, and listens to the stream only while someone listens", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const { body, store } = storeWithBody();
    let storeListeners = 0;
    const subscribe = store.subscribe.bind(store);
    store.subscribe = (listener) => {
      storeListeners += 1;
      const unsubscribe = subscribe(listener);
      return () => {
        storeListeners -= 1;
        unsubscribe();
      };
    };
    const source = throttleSnapshots(store, 100);
    const first: string[] = [];
    const second: string[] = [];
    const stopFirst = source.subscribe(() => first.push(source.getSnapshot().uncommittedText));
    void store.start();
    body.send(sse(metadata, dataFrame("1-1", "a")));
    await snapshotWhere(store, (snapshot) => snapshot.offset === "1-1");
    const stopSecond = source.subscribe(() => second.push(source.getSnapshot().uncommittedText));
    expect(storeListeners).toBe(1); // one subscription for both listeners
    // The second listener does not catch up on its own: that would rob the first of the pending change.
    expect(source.getSnapshot().uncommittedText).toBe("");
    vi.advanceTimersByTime(100);
    expect(first.at(-1)).toBe("a");
    expect(second).toEqual(["a"]);

    stopFirst();
    stopFirst(); // twice is harmless
    body.send(sse(dataFrame("1-2", "b")));
    await snapshotWhere(store, (snapshot) => snapshot.offset === "1-2");
    vi.advanceTimersByTime(100);
    expect(second).toEqual(["a", "ab"]);
    expect(first.at(-1)).toBe("a");

    stopSecond();
    expect(storeListeners).toBe(0);
    store.abort();
  });

  it("keeps notifying the other listeners when one throws, and reports the error apart", async () => {
    const reported: (() => void)[] = [];
    vi.stubGlobal("queueMicrotask", (callback: () => void) => void reported.push(callback));
    const { body, store } = storeWithBody();
    const source = throttleSnapshots(store, 0);
    const seen: string[] = [];
    source.subscribe(() => {
      throw new Error("listener bug");
    });
    source.subscribe(() => seen.push(source.getSnapshot().status));
    try {
      void store.start();
      body.send(sse(metadata));
      await snapshotWhere(store, (snapshot) => snapshot.status === "streaming");
      store.abort();
    } finally {
      vi.unstubAllGlobals();
    }
    expect(seen).toEqual(["connecting", "streaming", "aborted"]);
    expect(reported).toHaveLength(3);
    for (const report of reported) expect(report).toThrow("listener bug");
  });
});
