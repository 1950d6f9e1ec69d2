import { describe, expect, it } from "vitest";
import { DurableError } from "../errors.js";
import { createManualTimers } from "../test-helpers.js";
import { MemoryRunStore } from "./memory-store.js";

const frame = (payload: string) => ({ type: "data" as const, payload });

describe("MemoryRunStore", () => {
  it("gives strictly increasing offsets and reads strictly after any offset", async () => {
    const store = new MemoryRunStore();
    await store.createRun({ runId: "r1", endpointId: "GET /", createdAt: 0 });
    expect(await store.appendFrames("r1", [frame("1"), frame("2")])).toBe("1-2");
    expect(await store.appendFrames("r1", [frame("3")])).toBe("1-3");
    expect((await store.readFrames("r1", undefined, 10)).map((entry) => entry.offset)).toEqual(["1-1", "1-2", "1-3"]);
    expect((await store.readFrames("r1", "1-1", 10)).map((entry) => entry.payload)).toEqual(["2", "3"]);
    expect(await store.readFrames("r1", "1-3", 10)).toEqual([]);
    expect((await store.readFrames("r1", "0-99", 2)).map((entry) => entry.offset)).toEqual(["1-1", "1-2"]);
    expect(await store.readFrames("r1", "2-0", 10)).toEqual([]);
  });

  it("records a step and finishes a run atomically with their frames, and notifies subscribers", async () => {
    const store = new MemoryRunStore();
    await store.createRun({ runId: "r1", endpointId: "GET /", createdAt: 0 });
    let notified = 0;
    const unsubscribe = store.subscribe("r1", () => (notified += 1));
    await store.appendFrames("r1", [{ type: "commit", payload: "{}" }], {
      step: { hashedStepId: "h", stepId: "s", status: "succeeded", attempts: 1, output: "1" },
    });
    expect(await store.listSteps("r1")).toEqual([{ hashedStepId: "h", stepId: "s", status: "succeeded", attempts: 1, output: "1" }]);
    const response = { status: 200, statusText: "", headers: [], body: "ok", bodyEncoding: "text" as const };
    await store.appendFrames("r1", [{ type: "result", payload: "{}" }], { finish: { status: "succeeded", response } });
    expect(await store.getRun("r1")).toMatchObject({ status: "succeeded", result: response });
    expect(notified).toBe(2);
    unsubscribe();
    await expect(store.appendFrames("r1", [frame("late")])).rejects.toThrow(/is over/);
    expect(notified).toBe(2);
  });

  it("forgets finished runs after the retention time and refuses unknown runs with RUN_NOT_FOUND", async () => {
    const timers = createManualTimers();
    const store = new MemoryRunStore({ retention: 1000, timers });
    await store.createRun({ runId: "r1", endpointId: "GET /", createdAt: 0 });
    const response = { status: 200, statusText: "", headers: [], body: "", bodyEncoding: "text" as const };
    await store.appendFrames("r1", [], { finish: { status: "succeeded", response } });
    timers.advance(999);
    expect(await store.getRun("r1")).toBeDefined();
    timers.advance(1);
    expect(await store.getRun("r1")).toBeUndefined();
    const error = await store.readFrames("r1", undefined, 1).catch((caught: unknown) => caught);
    expect(DurableError.isInstance(error) && error.code).toBe("RUN_NOT_FOUND");
  });

  it("refuses a duplicate run id and a bad retention", async () => {
    const store = new MemoryRunStore();
    await store.createRun({ runId: "r1", endpointId: "GET /", createdAt: 0 });
    await expect(store.createRun({ runId: "r1", endpointId: "GET /", createdAt: 0 })).rejects.toThrow(/exists already/);
    expect(() => new MemoryRunStore({ retention: -1 })).toThrow(/"retention" must be milliseconds >= 0/);
  });
});
