import { describe, expect, it } from "vitest";
import { RunLogWriter, SkippedWriteError } from "./run-log-writer.js";
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
    const refused = await later.then(() => undefined, (error: unknown) => error);
    expect(refused).toBeInstanceOf(SkippedWriteError);
    expect(((refused as SkippedWriteError).cause as Error).message).toBe("disk full");
    expect(calls).toHaveLength(1);
    expect((writer.failure?.error as Error).message).toBe("disk full");
    expect(writer.failures).toBe(1);
  });

  it("recover() waits for what is queued, then lets writes through again; a write that fails itself is not 'skipped'", async () => {
    const { store, calls } = gatedStore();
    const writer = new RunLogWriter(store, "r", 1);
    writer.push(data("a"));
    const skipped = writer.write([{ type: "commit", payload: "c" }]).catch((error: unknown) => error);
    const recovered = writer.recover();
    await until(() => calls.length === 1);
    calls[0]!.fail(new Error("connection lost"));
    expect(await skipped).toBeInstanceOf(SkippedWriteError);
    await recovered;
    expect(writer.failure).toBeNull();
    expect(writer.failures).toBe(1);
    writer.push(data("b"));
    const own = writer.write([{ type: "commit", payload: "c2" }]).catch((error: unknown) => error);
    await until(() => calls.length === 2);
    calls[1]!.release();
    await until(() => calls.length === 3);
    calls[2]!.fail(new Error("reply lost"));
    const error = await own;
    expect(error).not.toBeInstanceOf(SkippedWriteError);
    expect((error as Error).message).toBe("reply lost");
    expect(calls.map((call) => call.payloads)).toEqual([["a"], ["b"], ["c2"]]);
    expect(writer.failures).toBe(2);
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
