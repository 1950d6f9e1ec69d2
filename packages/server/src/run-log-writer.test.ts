import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_BUFFERED_BYTES, FRAME_OVERHEAD, RunLogWriter, SkippedWriteError } from "./run-log-writer.js";
import { until } from "@durastream/testing";
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
    const writer = new RunLogWriter(store, "r", 1, DEFAULT_MAX_BUFFERED_BYTES);
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
    const writer = new RunLogWriter(store, "r", 1, DEFAULT_MAX_BUFFERED_BYTES);
    writer.push(data("a"));
    const later = writer.write([{ type: "commit", payload: "c" }]);
    await until(() => calls.length === 1);
    calls[0]!.fail(new Error("disk full"));
    const refused = await later.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(SkippedWriteError);
    expect(((refused as SkippedWriteError).cause as Error).message).toBe("disk full");
    expect(calls).toHaveLength(1);
    expect((writer.failure?.error as Error | undefined)?.message).toBe("disk full");
    expect(writer.failures).toBe(1);
  });

  it("recover() waits for what is queued, then lets writes through again; a write that fails itself is not 'skipped'", async () => {
    const { store, calls } = gatedStore();
    const writer = new RunLogWriter(store, "r", 1, DEFAULT_MAX_BUFFERED_BYTES);
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
    const writer = new RunLogWriter(store, "r", 1, DEFAULT_MAX_BUFFERED_BYTES);
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

describe("RunLogWriter backpressure", () => {
  /** Whether `promise` has settled after the microtasks queued so far have run. */
  async function settled(promise: Promise<unknown>): Promise<boolean> {
    let done = false;
    void promise.then(
      () => (done = true),
      () => (done = true),
    );
    for (let tick = 0; tick < 5; tick += 1) await Promise.resolve();
    return done;
  }

  it("counts what is queued and not yet stored (payload + overhead per frame, the append in flight too)", async () => {
    const { store, calls } = gatedStore();
    const writer = new RunLogWriter(store, "r", 1, 1000);
    writer.push(data("a".repeat(100)));
    writer.push(data("b".repeat(50)));
    expect(writer.bufferedBytes).toBe(150 + 2 * FRAME_OVERHEAD);
    await until(() => calls.length === 1);
    expect(writer.bufferedBytes).toBe(150 + 2 * FRAME_OVERHEAD); // in flight: not stored yet
    const committed = writer.write([{ type: "commit", payload: "c".repeat(10) }]);
    expect(writer.bufferedBytes).toBe(160 + 3 * FRAME_OVERHEAD);
    calls[0]!.release();
    await until(() => calls.length === 2);
    expect(writer.bufferedBytes).toBe(10 + FRAME_OVERHEAD);
    calls[1]!.release();
    await committed;
    expect(writer.bufferedBytes).toBe(0);
  });

  it("ready() resolves at once within the bound; over it, once appends have brought the backlog back to it", async () => {
    const { store, calls } = gatedStore();
    const writer = new RunLogWriter(store, "r", 1, 1000);
    expect(await settled(writer.ready())).toBe(true);
    // 3 batches of 1,024 frames of 1 + 64: far over the 1,000 bound.
    for (let index = 0; index < 3 * 1024; index += 1) writer.push(data("x"));
    expect(writer.overBound).toBe(true);
    const ready = writer.ready();
    expect(writer.ready()).toBe(ready); // one promise for every waiter
    await until(() => calls.length === 1);
    expect(await settled(ready)).toBe(false);
    calls[0]!.release();
    await until(() => calls.length === 2);
    expect(await settled(ready)).toBe(false); // 2,048 frames still queued
    calls[1]!.release();
    await until(() => calls.length === 3);
    expect(await settled(ready)).toBe(false);
    calls[2]!.release();
    expect(await settled(ready)).toBe(true);
    expect(writer.bufferedBytes).toBe(0);
    expect(writer.overBound).toBe(false);
  });

  it("frames dropped after a store failure leave the backlog too, so waiters are not stuck", async () => {
    const { store, calls } = gatedStore();
    const writer = new RunLogWriter(store, "r", 1, 100);
    for (let index = 0; index < 2000; index += 1) writer.push(data("x"));
    const ready = writer.ready();
    await until(() => calls.length === 1);
    calls[0]!.fail(new Error("connection lost")); // the second batch is then dropped, not tried
    await ready;
    expect(writer.bufferedBytes).toBe(0);
    expect(calls).toHaveLength(1);
  });
});
