import { describe, expect, it } from "vitest";
import { RunLogWriter } from "./run-log-writer.js";
import { until } from "./testing/helpers.js";
import type { AppendEffects, FrameToAppend, RunStore } from "./store/run-store.js";

/** A store whose appends complete only when the test releases them. */
function gatedStore() {
  const calls: { payloads: string[]; effects?: AppendEffects; release: () => void; fail: (error: Error) => void }[] = [];
  const store = {
    appendFrames(_runId: string, _epoch: number, frames: readonly FrameToAppend[], effects?: AppendEffects) {
      return new Promise<string>((resolve, reject) => {
        calls.push({ payloads: frames.map((frame) => frame.payload), effects, release: () => resolve("1-1"), fail: reject });
      });
    },
  } as unknown as RunStore;
  return { store, calls };
}

const data = (payload: string): FrameToAppend => ({ type: "data", payload });

describe("RunLogWriter", () => {
  it("batches frames pushed in one turn of the event loop and keeps push/write order", async () => {
    const { store, calls } = gatedStore();
    const writer = new RunLogWriter(store, "r", 1);
    writer.push(data("a"));
    writer.push(data("b"));
    const committed = writer.write([{ type: "commit", payload: "c" }]);
    writer.push(data("d"));
    await until(() => calls.length === 1);
    expect(calls.map((call) => call.payloads)).toEqual([["a", "b"]]);
    calls[0]!.release();
    await until(() => calls.length === 2);
    expect(calls.map((call) => call.payloads)).toEqual([["a", "b"], ["c"]]);
    let settled = false;
    void committed.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    calls[1]!.release();
    await committed;
    await until(() => calls.length === 3);
    expect(calls.map((call) => call.payloads)).toEqual([["a", "b"], ["c"], ["d"]]);
  });

  it("after a store failure, refuses later writes with that error instead of writing past a gap", async () => {
    const { store, calls } = gatedStore();
    const writer = new RunLogWriter(store, "r", 1);
    writer.push(data("a"));
    const later = writer.write([{ type: "commit", payload: "c" }]);
    await until(() => calls.length === 1);
    calls[0]!.fail(new Error("disk full"));
    await expect(later).rejects.toThrow("disk full");
    expect(calls).toHaveLength(1);
    expect((writer.failure?.error as Error).message).toBe("disk full");
  });

  it("caps a batch at 1,024 frames: a source faster than the store makes several appends, in order", async () => {
    const { store, calls } = gatedStore();
    const writer = new RunLogWriter(store, "r", 1);
    for (let index = 0; index < 2500; index += 1) writer.push(data(String(index)));
    await until(() => calls.length === 1);
    expect(calls[0]!.payloads).toHaveLength(1024);
    calls[0]!.release();
    await until(() => calls.length === 2);
    calls[1]!.release();
    await until(() => calls.length === 3);
    calls[2]!.release();
    await writer.flush();
    expect(calls.map((call) => call.payloads.length)).toEqual([1024, 1024, 452]);
    expect(calls.flatMap((call) => call.payloads)).toEqual(Array.from({ length: 2500 }, (_, index) => String(index)));
  });
});
