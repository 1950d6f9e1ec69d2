import { describe, expect, it } from "vitest";
import { DurableError, InvalidOptionsError, MemoryRunStore } from "@durastream/server";
import type { NewRun, RunStore } from "@durastream/server/store";
import { FaultyStore } from "./faulty-store.js";

const NOW = 1_700_000_000_000;

function newRun(runId: string): NewRun {
  return {
    runId,
    endpointId: "POST /api/chat",
    createdAt: NOW,
    request: { method: "POST", url: "http://localhost/api/chat", headers: [], body: null, bodyEncoding: "text" },
    owner: "owner-1",
    leaseExpiresAt: NOW + 30_000,
  };
}

const frame = (payload: string) => ({ type: "data" as const, payload });

function setup(): { inner: MemoryRunStore; store: FaultyStore } {
  const inner = new MemoryRunStore({ now: () => NOW });
  return { inner, store: new FaultyStore(inner) };
}

/** Lets pending promise callbacks run. */
const flush = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Whether `promise` has settled after callbacks ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await flush();
  return done;
}

async function expectUnavailable(promise: Promise<unknown>, message?: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(DurableError.isInstance(error)).toBe(true);
  expect((error as DurableError).code).toBe("STORE_UNAVAILABLE");
  if (message !== undefined) expect((error as DurableError).message).toBe(message);
}

describe("FaultyStore", () => {
  it("delegates to the inner store when no fault is active", async () => {
    const { inner, store } = setup();
    expect(store.inner).toBe(inner);
    await store.createRun(newRun("r1"));
    expect(await store.appendFrames("r1", 1, [frame('"a"'), frame('"b"')])).toBe("1-2");
    expect((await store.readFrames("r1", undefined, 10)).map((entry) => entry.payload)).toEqual(['"a"', '"b"']);
    expect((await store.getRun("r1"))?.frameCount).toBe(2);
    expect(await store.listSteps("r1")).toEqual([]);
    expect(await store.renewLease("r1", "owner-1", 1, NOW + 60_000)).toBe(true);
    expect(await store.claimRun("r1", "owner-2", NOW + 60_000, NOW)).toBeUndefined();
    expect(await store.listResumableRuns(NOW, 10)).toEqual([]);
    expect(await store.nextWakeAt()).toBeNull();
    expect(await store.deliverEvent({ name: "e" }, NOW)).toEqual([]);
  });

  it("passes the inner store's rejections through", async () => {
    const { store } = setup();
    const error = await store.appendFrames("missing", 1, [frame('"a"')]).catch((reason: unknown) => reason);
    expect((error as DurableError).code).toBe("STORE_REFUSED");
  });

  it("counts calls per method, failed or not", async () => {
    const { store } = setup();
    await store.createRun(newRun("r1"));
    await store.getRun("r1");
    await store.getRun("r1");
    store.failNext("readFrames");
    await store.readFrames("r1", undefined, 10).catch(() => {});
    store.outage();
    await store.nextWakeAt().catch(() => {});
    expect(store.calls).toEqual({
      createRun: 1,
      getRun: 2,
      getRunSummary: 0,
      listSteps: 0,
      appendFrames: 0,
      readFrames: 1,
      claimRun: 0,
      renewLease: 0,
      listResumableRuns: 0,
      nextWakeAt: 1,
      deliverEvent: 0,
      findActiveRunByKey: 0,
    });
  });

  describe("outage", () => {
    it("rejects every operation without reaching the inner store, until restore()", async () => {
      const { inner, store } = setup();
      await store.createRun(newRun("r1"));
      store.outage();
      await expectUnavailable(store.appendFrames("r1", 1, [frame('"a"')]), "FaultyStore: the store is down (appendFrames)");
      await expectUnavailable(store.createRun(newRun("r2")), "FaultyStore: the store is down (createRun)");
      await expectUnavailable(store.getRun("r1"));
      await expectUnavailable(store.listSteps("r1"));
      await expectUnavailable(store.readFrames("r1", undefined, 10));
      await expectUnavailable(store.claimRun("r1", "o", NOW, NOW));
      await expectUnavailable(store.renewLease("r1", "owner-1", 1, NOW));
      await expectUnavailable(store.listResumableRuns(NOW, 10));
      await expectUnavailable(store.nextWakeAt());
      await expectUnavailable(store.deliverEvent({ name: "e" }, NOW));
      expect(await inner.readFrames("r1", undefined, 10)).toEqual([]);
      expect(await inner.getRun("r2")).toBeUndefined();

      store.restore();
      expect(await store.appendFrames("r1", 1, [frame('"a"')])).toBe("1-1");
    });

    it("rejects asynchronously, never throwing synchronously", () => {
      const { store } = setup();
      store.outage();
      let promise: Promise<unknown> | undefined;
      expect(() => (promise = store.getRun("r1"))).not.toThrow();
      expect(promise).toBeInstanceOf(Promise);
      return expectUnavailable(promise!);
    });

    it("still lets subscribe return a working unsubscribe function", async () => {
      const { inner, store } = setup();
      await inner.createRun(newRun("r1"));
      store.outage();
      let calls = 0;
      const unsubscribe = store.subscribe("r1", () => calls++);
      await inner.appendFrames("r1", 1, [frame('"a"')]);
      unsubscribe();
      await inner.appendFrames("r1", 1, [frame('"b"')]);
      expect(calls).toBe(1);
    });
  });

  describe("pause", () => {
    it("holds operations until resume(), then runs them in call order", async () => {
      const { inner, store } = setup();
      await store.createRun(newRun("r1"));
      store.pause();
      const first = store.appendFrames("r1", 1, [frame('"a"')]);
      const second = store.appendFrames("r1", 1, [frame('"b"')]);
      const read = store.readFrames("r1", undefined, 10);
      expect(await settled(first)).toBe(false);
      expect(await settled(read)).toBe(false);
      expect(await inner.readFrames("r1", undefined, 10)).toEqual([]);
      expect(store.calls.appendFrames).toBe(2);

      store.resume();
      // Held calls reach the inner store before any call made after resume().
      const third = store.appendFrames("r1", 1, [frame('"c"')]);
      expect(await first).toBe("1-1");
      expect(await second).toBe("1-2");
      expect(await third).toBe("1-3");
      expect((await read).map((entry) => entry.payload)).toEqual(['"a"', '"b"']);
    });

    it("applies faults active when the held calls are released", async () => {
      const { store } = setup();
      await store.createRun(newRun("r1"));
      store.pause();
      const held = store.getRun("r1");
      store.outage();
      store.resume();
      await expectUnavailable(held);
    });
  });

  describe("failNext", () => {
    it("fails the next calls of a method without reaching the inner store", async () => {
      const { inner, store } = setup();
      await store.createRun(newRun("r1"));
      store.failNext("appendFrames", 2);
      await expectUnavailable(store.appendFrames("r1", 1, [frame('"a"')]));
      expect(await store.getRun("r1")).toBeDefined(); // other methods are unaffected
      await expectUnavailable(store.appendFrames("r1", 1, [frame('"b"')]));
      expect(await store.appendFrames("r1", 1, [frame('"c"')])).toBe("1-1");
      expect((await inner.readFrames("r1", undefined, 10)).map((entry) => entry.payload)).toEqual(['"c"']);
    });

    it("defaults to one call and only counts calls matching `when`", async () => {
      const { store } = setup();
      await store.createRun(newRun("r1"));
      await store.createRun(newRun("r2"));
      store.failNext("getRun", undefined, (runId: string) => runId === "r2");
      expect(await store.getRun("r1")).toBeDefined();
      await expectUnavailable(store.getRun("r2"));
      expect(await store.getRun("r2")).toBeDefined();
    });

    it("queues several rules", async () => {
      const { store } = setup();
      await store.createRun(newRun("r1"));
      store.failNext("getRun");
      store.failNext("listSteps");
      store.failNext("getRun");
      await expectUnavailable(store.getRun("r1"));
      await expectUnavailable(store.listSteps("r1"));
      await expectUnavailable(store.getRun("r1"));
      expect(await store.getRun("r1")).toBeDefined();
      expect(await store.listSteps("r1")).toEqual([]);
    });

    it("rejects a count that is not a positive integer", () => {
      const { store } = setup();
      expect(() => store.failNext("getRun", 0)).toThrow(InvalidOptionsError);
      expect(() => store.failAfterNext("getRun", 1.5)).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
    });
  });

  describe("failAfterNext", () => {
    it("lets the write happen, then rejects (an ambiguous failure)", async () => {
      const { store } = setup();
      await store.createRun(newRun("r1"));
      store.failAfterNext("appendFrames");
      await expectUnavailable(store.appendFrames("r1", 1, [frame('"a"')]));
      expect((await store.readFrames("r1", undefined, 10)).map((entry) => entry.payload)).toEqual(['"a"']);
      expect(await store.appendFrames("r1", 1, [frame('"b"')])).toBe("1-2");
    });

    it("honours `when` and count", async () => {
      const { inner, store } = setup();
      store.failAfterNext("createRun", 2, (run: NewRun) => run.runId !== "r0");
      expect((await store.createRun(newRun("r0"))).runId).toBe("r0");
      await expectUnavailable(store.createRun(newRun("r1")));
      await expectUnavailable(store.createRun(newRun("r2")));
      expect((await store.createRun(newRun("r3"))).runId).toBe("r3");
      for (const runId of ["r0", "r1", "r2", "r3"]) expect(await inner.getRun(runId)).toBeDefined();
    });
  });

  describe("kill", () => {
    it("makes every later operation hang, and is not undone by restore() or resume()", async () => {
      const { inner, store } = setup();
      await store.createRun(newRun("r1"));
      store.kill();
      store.restore();
      store.resume();
      const append = store.appendFrames("r1", 1, [frame('"a"')]);
      expect(await settled(append)).toBe(false);
      expect(await settled(store.getRun("r1"))).toBe(false);
      expect(await inner.readFrames("r1", undefined, 10)).toEqual([]);
      expect(store.calls.appendFrames).toBe(1);
    });

    it("leaves calls held by a pause hanging", async () => {
      const { inner, store } = setup();
      await store.createRun(newRun("r1"));
      store.pause();
      const append = store.appendFrames("r1", 1, [frame('"a"')]);
      store.kill();
      store.resume();
      expect(await settled(append)).toBe(false);
      expect(await inner.readFrames("r1", undefined, 10)).toEqual([]);
    });

    it("stops listeners and unsubscribes them from the inner store", async () => {
      const { inner, store } = setup();
      await inner.createRun(newRun("r1"));
      let calls = 0;
      store.subscribe("r1", () => calls++);
      await inner.appendFrames("r1", 1, [frame('"a"')]);
      expect(calls).toBe(1);

      const unsubscribeInner = { count: 0 };
      const spied: RunStore = Object.create(inner) as RunStore;
      spied.subscribe = (runId, listener) => {
        const unsubscribe = inner.subscribe(runId, listener);
        return () => {
          unsubscribeInner.count++;
          unsubscribe();
        };
      };
      const other = new FaultyStore(spied);
      other.subscribe("r1", () => calls++);
      other.kill();
      expect(unsubscribeInner.count).toBe(1);

      store.kill();
      await inner.appendFrames("r1", 1, [frame('"b"')]);
      expect(calls).toBe(1);

      const unsubscribe = store.subscribe("r1", () => calls++);
      expect(typeof unsubscribe).toBe("function");
      unsubscribe();
      await inner.appendFrames("r1", 1, [frame('"c"')]);
      expect(calls).toBe(1);
    });

    it("swallows the reply of a call in flight, though its write happened", async () => {
      const { inner, store } = setup();
      await store.createRun(newRun("r1"));
      const append = store.appendFrames("r1", 1, [frame('"a"')]);
      store.kill();
      expect(await settled(append)).toBe(false);
      expect((await inner.readFrames("r1", undefined, 10)).map((entry) => entry.payload)).toEqual(['"a"']);
    });
  });
});
