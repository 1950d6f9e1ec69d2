// The RunStore conformance suite: defineRunStoreConformance composes one module per concern
// (runs, appendFrames and refused writes, readFrames, subscribe, claims and leases, scheduling,
// events, quiet points, retention, run keys) over a harness that gives each test a fresh store and a clock.
import type { NewRun, RunRecord, RunStore } from "@durastream/server/store";
import { afterEach, beforeEach, describe } from "vitest";
import { describeAppendFrames } from "./append-frames.js";
import { describeClaims } from "./claims.js";
import { describeEvents } from "./events.js";
import { dataFrames, LEASE, RETENTION, START, textRequest, waitingStep } from "./fixtures.js";
import type { ConformanceHarness } from "./harness.js";
import { describeQuietPoints } from "./quiet-points.js";
import { describeReadFrames } from "./read-frames.js";
import { describeRetention } from "./retention.js";
import { describeRunKeys } from "./run-keys.js";
import { describeRuns } from "./runs.js";
import { describeScheduling } from "./scheduling.js";
import { describeSubscribe } from "./subscribe.js";

/**
 * What the conformance suite gives a store factory for each test.
 *
 * @example
 * ```ts
 * const factory: RunStoreFactory = async ({ retention, now }) => ({ store: new MemoryRunStore({ retention, now }), close: async () => {} });
 * ```
 */
export interface RunStoreConformanceContext {
  /** How long finished runs must be kept, in milliseconds: pass it to the store. */
  readonly retention: number;
  /** The test's clock, epoch-milliseconds; the store must read time from it (the tests move it). */
  readonly now: () => number;
}

/**
 * A store made for one test, and how to dispose of it after the test (close connections, delete files).
 *
 * @example
 * ```ts
 * const underTest: RunStoreUnderTest = { store, close: async () => { store.close(); rmSync(directory, { recursive: true }); } };
 * ```
 */
export interface RunStoreUnderTest {
  readonly store: RunStore;
  readonly close: () => Promise<void>;
}

/**
 * Makes a fresh, empty store for one test, reading time from `now` and keeping finished runs for `retention`.
 *
 * @example
 * ```ts
 * const factory: RunStoreFactory = async ({ retention, now }) => {
 *   const store = new SqliteRunStore({ path: join(mkdtempSync(join(tmpdir(), "runs-")), "runs.db"), retention, now });
 *   return { store, close: async () => store.close() };
 * };
 * ```
 */
export type RunStoreFactory = (context: RunStoreConformanceContext) => Promise<RunStoreUnderTest>;

/**
 * Registers the `RunStore` conformance suite (a vitest `describe` block named after `name`): every
 * guarantee of the `RunStore` interface, checked against stores made by `factory`, one fresh store
 * per test. Each test passes the store a clock it moves itself (`now`) and a `retention`, so the
 * store must read time from `now` (it decides when a finished run expires) and never from the wall
 * clock.
 *
 * Beyond the interface's text, the suite pins down these choices, which every store must share:
 * - a run is "over" when it `succeeded` or `failed`; its `finish` time is the store's `now()` when the
 *   finishing `appendFrames` ran; it is kept while `now() < finish + retention` and is unknown from
 *   `finish + retention` on; running and suspended runs never expire;
 * - for an unknown (or expired) run, `getRun` resolves undefined, `listSteps` resolves `[]`,
 *   `claimRun` undefined, `renewLease` false, `deliverEvent` skips it, and `appendFrames` and
 *   `readFrames` reject with a `StoreRefusedError` of reason `unknown-run`;
 * - a lease holds while `now <= leaseExpiresAt` (claimable from `leaseExpiresAt + 1`); a suspended run
 *   is due when `wakeAt <= now`; an event wait accepts events while `now < deadline` (at the deadline
 *   its timeout is due, so the event comes too late);
 * - `deliverEvent` lists each woken run once, even when several of its steps received the event, and
 *   an event without `data` is recorded as `{ "name": …, "data": null }`;
 * - log entries are compared on `offset`, `type` and `payload` only (a store may add fields);
 * - `subscribe` listeners may be called synchronously or later, but a `readFrames` started inside a
 *   listener already returns the frames whose append caused the call.
 * - run keys (`NewRun.key`, `findActiveRunByKey`) are held by the active runs of an endpoint only:
 *   `createRun` refuses a held key with a `RunKeyTakenError` naming the holder, the key is free
 *   from the finishing append on, and keys of different endpoints never collide. A store without
 *   `findActiveRunByKey` (no run keys) has these tests skipped.
 *
 * @example
 * ```ts
 * // my-store.conformance.test.ts
 * import { defineRunStoreConformance } from "@durastream/testing";
 * import { MyRunStore } from "./my-store.js";
 *
 * defineRunStoreConformance("MyRunStore", async ({ retention, now }) => {
 *   const store = await MyRunStore.open({ url: process.env.TEST_URL, retention, now });
 *   return { store, close: () => store.close() };
 * });
 * ```
 */
export function defineRunStoreConformance(name: string, factory: RunStoreFactory): void {
  describe(`RunStore conformance: ${name}`, () => {
    let clock = START;
    let store: RunStore;
    let close: (() => Promise<void>) | undefined;
    let runCounter = 0;

    beforeEach(async () => {
      clock = START;
      close = undefined;
      const made = await factory({ retention: RETENTION, now: () => clock });
      store = made.store;
      close = made.close;
    });

    afterEach(async () => {
      await close?.();
    });

    const harness: ConformanceHarness = {
      get store() {
        return store;
      },
      get clock() {
        return clock;
      },
      set clock(value: number) {
        clock = value;
      },
      async createRun(overrides: Partial<NewRun> = {}): Promise<RunRecord> {
        runCounter += 1;
        return store.createRun({
          runId: `run-${String(runCounter).padStart(4, "0")}-${Math.random().toString(36).slice(2, 8)}`,
          endpointId: "POST /api/chat",
          createdAt: clock,
          request: textRequest,
          owner: "owner-1",
          leaseExpiresAt: clock + LEASE,
          ...overrides,
        });
      },
      async observe(runId: string) {
        return {
          record: await store.getRun(runId),
          steps: await store.listSteps(runId),
          frames: await store.readFrames(runId, undefined, 10_000),
        };
      },
      async suspendedRun(wakeAt: number, frameCount = 0): Promise<RunRecord> {
        const run = await harness.createRun();
        await store.appendFrames(run.runId, 1, dataFrames(frameCount), { suspend: { wakeAt } });
        return (await store.getRun(run.runId))!;
      },
      async waitingRun(event: string, match: Record<string, unknown> | undefined, deadline: number | undefined) {
        const run = await harness.createRun();
        const step = waitingStep(event, match, deadline);
        await store.appendFrames(run.runId, 1, [], { step, suspend: { wakeAt: deadline ?? clock + 86_400_000 } });
        return { runId: run.runId, step };
      },
    };

    describeRuns(harness);
    describeAppendFrames(harness);
    describeReadFrames(harness);
    describeSubscribe(harness);
    describeClaims(harness);
    describeScheduling(harness);
    describeEvents(harness);
    describeQuietPoints(harness);
    describeRetention(harness);
    describeRunKeys(harness);
  });
}
