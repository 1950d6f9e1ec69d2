import { DurableError } from "@durastream/server";
import { RunKeyTakenError, type RunStore } from "@durastream/server/store";
import { describe, expect, it, type TestContext } from "vitest";
import { dataFrames, LEASE, newRunOf, RETENTION, response } from "./fixtures.js";
import type { ConformanceHarness } from "./harness.js";

const ENDPOINT = "POST /api/chat";

/** The rejection of a `createRun` expected to lose its key to `activeRunId`. */
async function expectKeyTaken(promise: Promise<unknown>, activeRunId: string, key: string): Promise<void> {
  const outcome = await promise.then(
    () => "resolved" as const,
    (error: unknown) => error,
  );
  expect(RunKeyTakenError.isInstance(outcome), `expected a RunKeyTakenError for key ${key}, got ${String(outcome)}`).toBe(true);
  const error = outcome as RunKeyTakenError;
  expect(DurableError.isInstance(error) && error.code).toBe("RUN_EXISTS");
  expect(error.activeRunId).toBe(activeRunId);
  expect(error.key).toBe(key);
}

/**
 * Run keys (`NewRun.key`, `findActiveRunByKey`): a key is held by at most one active run of an
 * endpoint, taken atomically with the creation, and free once its run is over or expired. Skipped
 * for a store without `findActiveRunByKey` (it does not support run keys).
 */
export function describeRunKeys(t: ConformanceHarness): void {
  const { createRun } = t;
  /** The store of the running test, when it supports run keys; else the test is skipped. */
  const keyed = (context: TestContext): Required<Pick<RunStore, "findActiveRunByKey">> & RunStore => {
    if (typeof t.store.findActiveRunByKey !== "function") context.skip();
    return t.store as Required<Pick<RunStore, "findActiveRunByKey">> & RunStore;
  };
  const finish = (runId: string, status: "succeeded" | "failed" = "succeeded") =>
    t.store.appendFrames(runId, 1, [{ type: "result", payload: "{}" }], { finish: { status, response } });

  describe("run keys", () => {
    it("creates a run with a key: the record carries it, and findActiveRunByKey finds the run", async (context) => {
      const store = keyed(context);
      const run = await createRun({ key: "chat-1" });
      expect(run.key).toBe("chat-1");
      expect((await store.getRun(run.runId))!.key).toBe("chat-1");
      expect(await store.findActiveRunByKey(ENDPOINT, "chat-1")).toBe(run.runId);
      const plain = await createRun();
      expect(plain.key).toBeUndefined();
      expect((await store.getRun(plain.runId))!.key).toBeUndefined();
      expect(await store.findActiveRunByKey(ENDPOINT, "chat-2")).toBeUndefined();
      expect(await store.findActiveRunByKey(ENDPOINT, "")).toBeUndefined();
    });

    it("refuses a second active run with the key, naming the active run, and creates nothing", async (context) => {
      const store = keyed(context);
      const first = await createRun({ key: "chat-1" });
      await store.appendFrames(first.runId, 1, dataFrames(2));
      await expectKeyTaken(createRun({ runId: "run-second", key: "chat-1", owner: "owner-2" }), first.runId, "chat-1");
      expect(await store.getRun("run-second")).toBeUndefined();
      expect(await store.findActiveRunByKey(ENDPOINT, "chat-1")).toBe(first.runId);
      expect(await store.getRun(first.runId)).toMatchObject({ owner: "owner-1", frameCount: 2, epoch: 1, key: "chat-1" });
      // A run id that exists is still RUN_EXISTS of the id (not of the key).
      const again = await store.createRun({ ...newRunOf(first), owner: "owner-2", key: "chat-9" }).then(
        () => "resolved",
        (error: unknown) => error,
      );
      expect(DurableError.isInstance(again) && again.code).toBe("RUN_EXISTS");
      expect(RunKeyTakenError.isInstance(again)).toBe(false);
      expect(await store.findActiveRunByKey(ENDPOINT, "chat-9")).toBeUndefined();
    });

    it("keeps the key while the run is suspended and after a takeover", async (context) => {
      const store = keyed(context);
      const run = await createRun({ key: "chat-1" });
      await store.appendFrames(run.runId, 1, dataFrames(1), { suspend: { wakeAt: t.clock + 1_000 } });
      expect(await store.findActiveRunByKey(ENDPOINT, "chat-1")).toBe(run.runId);
      await expectKeyTaken(createRun({ key: "chat-1" }), run.runId, "chat-1");
      t.clock += 1_000;
      const claimed = await store.claimRun(run.runId, "owner-2", t.clock + LEASE, t.clock);
      expect(claimed).toMatchObject({ epoch: 2, key: "chat-1" });
      expect(await store.findActiveRunByKey(ENDPOINT, "chat-1")).toBe(run.runId);
      await expectKeyTaken(createRun({ key: "chat-1" }), run.runId, "chat-1");
    });

    it("of concurrent creations with one key, exactly one wins; the others name the winner", async (context) => {
      const store = keyed(context);
      const attempts = await Promise.allSettled(Array.from({ length: 12 }, (_, index) => createRun({ runId: `run-race-${index}`, key: "raced" })));
      const winners = attempts.filter((attempt) => attempt.status === "fulfilled");
      expect(winners).toHaveLength(1);
      const winner = (winners[0] as PromiseFulfilledResult<{ runId: string }>).value.runId;
      for (const attempt of attempts) {
        if (attempt.status === "rejected") {
          expect(RunKeyTakenError.isInstance(attempt.reason) && attempt.reason.activeRunId).toBe(winner);
        }
      }
      expect(await store.findActiveRunByKey(ENDPOINT, "raced")).toBe(winner);
      for (let index = 0; index < 12; index += 1) {
        const runId = `run-race-${index}`;
        expect((await store.getRun(runId)) === undefined).toBe(runId !== winner);
      }
    });

    it("frees the key when the run finishes, succeeded or failed; the finished run keeps its key field", async (context) => {
      const store = keyed(context);
      const first = await createRun({ key: "chat-1" });
      await finish(first.runId);
      expect(await store.findActiveRunByKey(ENDPOINT, "chat-1")).toBeUndefined();
      expect(await store.getRun(first.runId)).toMatchObject({ status: "succeeded", key: "chat-1" });
      const second = await createRun({ key: "chat-1" });
      expect(await store.findActiveRunByKey(ENDPOINT, "chat-1")).toBe(second.runId);
      await finish(second.runId, "failed");
      expect(await store.findActiveRunByKey(ENDPOINT, "chat-1")).toBeUndefined();
      const third = await createRun({ key: "chat-1" });
      expect(await store.findActiveRunByKey(ENDPOINT, "chat-1")).toBe(third.runId);
      // The finished runs did not take the key back.
      await expectKeyTaken(createRun({ key: "chat-1" }), third.runId, "chat-1");
    });

    it("leaves no key behind when a finished run expires, nor when its id is used again", async (context) => {
      const store = keyed(context);
      const run = await createRun({ runId: "run-expiring", key: "chat-1" });
      await finish(run.runId);
      t.clock += RETENTION;
      expect(await store.getRun(run.runId)).toBeUndefined();
      expect(await store.findActiveRunByKey(ENDPOINT, "chat-1")).toBeUndefined();
      // The expired run's id, again, without a key: no key of the old run shows up.
      const reused = await createRun({ runId: "run-expiring" });
      expect(reused.key).toBeUndefined();
      expect((await store.getRun("run-expiring"))!.key).toBeUndefined();
      expect(await store.findActiveRunByKey(ENDPOINT, "chat-1")).toBeUndefined();
      const next = await createRun({ key: "chat-1" });
      expect(await store.findActiveRunByKey(ENDPOINT, "chat-1")).toBe(next.runId);
      await finish("run-expiring");
      expect(await store.findActiveRunByKey(ENDPOINT, "chat-1")).toBe(next.runId);
    });

    it("keeps the keys of different endpoints apart, whatever characters ids and keys hold", async (context) => {
      const store = keyed(context);
      const a = await createRun({ endpointId: "GET /a", key: "shared" });
      const b = await createRun({ endpointId: "GET /b", key: "shared" });
      expect(await store.findActiveRunByKey("GET /a", "shared")).toBe(a.runId);
      expect(await store.findActiveRunByKey("GET /b", "shared")).toBe(b.runId);
      expect(await store.findActiveRunByKey("GET /c", "shared")).toBeUndefined();
      const colon = await createRun({ endpointId: "a:b", key: "c" });
      const other = await createRun({ endpointId: "a", key: "b:c" });
      expect(await store.findActiveRunByKey("a:b", "c")).toBe(colon.runId);
      expect(await store.findActiveRunByKey("a", "b:c")).toBe(other.runId);
      const unicode = await createRun({ endpointId: "chat", key: "😀 ünï:cødé/{x}" });
      expect(await store.findActiveRunByKey("chat", "😀 ünï:cødé/{x}")).toBe(unicode.runId);
      expect((await store.getRun(unicode.runId))!.key).toBe("😀 ünï:cødé/{x}");
      await finish(a.runId);
      expect(await store.findActiveRunByKey("GET /a", "shared")).toBeUndefined();
      expect(await store.findActiveRunByKey("GET /b", "shared")).toBe(b.runId);
    });
  });
}
