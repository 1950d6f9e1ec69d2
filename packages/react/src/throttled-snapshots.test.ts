import { createDurableStream } from "@durastream/client";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  ORIGIN,
  commitFrame,
  controlledStream,
  dataFrame,
  durableRun,
  resultFrame,
  snapshotWhere,
  sse,
} from "../../client/src/test-helpers.js";
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
    await snapshotWhere(store, (snapshot) => snapshot.lastEventId === "1-1");
    expect(published).toEqual(["connecting:", "streaming:"]); // the status change, before 1-1 arrived
    expect(source.getSnapshot()).not.toBe(store.getSnapshot());

    body.send(sse(dataFrame("1-2", "b"), dataFrame("1-3", "c")));
    await snapshotWhere(store, (snapshot) => snapshot.lastEventId === "1-3");
    expect(published).toHaveLength(2);
    vi.advanceTimersByTime(100);
    expect(published.at(-1)).toBe("streaming:abc");

    vi.advanceTimersByTime(500);
    body.send(sse(dataFrame("1-4", "d")));
    await snapshotWhere(store, (snapshot) => snapshot.lastEventId === "1-4");
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
    await snapshotWhere(store, (snapshot) => snapshot.lastEventId === "1-2");
    const calls = onChange.mock.calls.length;
    unsubscribe();
    vi.advanceTimersByTime(1000);
    expect(onChange).toHaveBeenCalledTimes(calls);
    expect(source.getSnapshot()).not.toBe(store.getSnapshot());
    source.subscribe(onChange)();
    expect(source.getSnapshot()).toBe(store.getSnapshot());
    store.abort();
  });
});
