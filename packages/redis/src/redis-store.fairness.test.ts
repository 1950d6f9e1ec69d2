// listResumableRuns on Redis with many due runs (issue 12): every poll of every instance calls it,
// so a call must do work bounded by its page, not by the number of due runs. Checked by behaviour
// (exact pages from any cursor; entries past the page are never looked at), not by timing: the
// figures are in `bench/resumable-poll.ts`.
import type { ResumableRun } from "@durastream/server/store";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { RedisRunStore } from "./redis-store.js";
import { deleteKeys, redisUrlForTests, skipWithoutRedis, uniquePrefix } from "./redis-test-support.js";

const url = await redisUrlForTests();
const NOW = 1_700_000_000_000;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function open(): { store: RedisRunStore; prefix: string; admin: Redis } {
  const prefix = uniquePrefix("fairness");
  const store = new RedisRunStore({ prefix, url: url!, now: () => NOW });
  const admin = new Redis(url!);
  cleanups.push(async () => {
    await store.close();
    await deleteKeys(url!, prefix);
    admin.disconnect();
  });
  return { store, prefix, admin };
}

/**
 * Writes runs the way the store's scripts leave them (the run hash's status and endpoint, and the
 * run in the due set by wake time or in the lease set by lease expiry), in bulk; `hash: false`
 * leaves the set entry without its run hash (as after an eviction).
 */
async function seed(admin: Redis, prefix: string, runs: readonly (ResumableRun & { status: "suspended" | "running"; hash?: boolean })[]): Promise<void> {
  for (let start = 0; start < runs.length; start += 5_000) {
    const pipeline = admin.pipeline();
    for (const { runId, endpointId, dueAt, status, hash = true } of runs.slice(start, start + 5_000)) {
      const time = status === "suspended" ? "wakeAt" : "leaseExpiresAt";
      if (hash) pipeline.hset(`${prefix}run:${runId}`, "runId", runId, "endpointId", endpointId, "status", status, time, String(dueAt));
      pipeline.zadd(status === "suspended" ? `${prefix}due` : `${prefix}leases`, dueAt, runId);
    }
    await pipeline.exec();
  }
}

const byOrder = (a: ResumableRun, b: ResumableRun) => a.dueAt - b.dueAt || (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0);
const listed = ({ runId, endpointId, dueAt }: ResumableRun): ResumableRun => ({ runId, endpointId, dueAt });

if (url === undefined) skipWithoutRedis();
describe.skipIf(url === undefined)("RedisRunStore.listResumableRuns with many due runs", () => {
  it("returns exactly `limit` runs among 25,000 due ones, in order, from the start and from a cursor deep in", async () => {
    const { store, prefix, admin } = open();
    const runs = Array.from({ length: 25_000 }, (_, index) => ({
      runId: `run-${String(index).padStart(6, "0")}`,
      endpointId: index % 7 === 0 ? "removed" : "chat",
      // Every fifth one left running by a dead process; due times tie in threes.
      status: index % 5 === 0 ? ("running" as const) : ("suspended" as const),
      dueAt: NOW - 1_000_000 + Math.floor(index / 3),
    }));
    await seed(admin, prefix, runs);
    await seed(admin, prefix, [{ runId: "later", endpointId: "chat", status: "suspended", dueAt: NOW + 60_000 }]); // not due
    const expected = runs.map(listed).sort(byOrder);

    expect(await store.listResumableRuns(NOW, 100)).toEqual(expected.slice(0, 100));
    for (const at of [0, 12_345, 24_899]) {
      expect(await store.listResumableRuns(NOW, 100, expected[at])).toEqual(expected.slice(at + 1, at + 101));
    }
    expect(await store.listResumableRuns(NOW, 100, expected[24_950])).toEqual(expected.slice(24_951));
    expect(await store.listResumableRuns(NOW, 1, { dueAt: NOW - 1_000_000 + 5_000, runId: "" })).toEqual([
      expected.find((run) => run.dueAt === NOW - 1_000_000 + 5_000),
    ]);
  });

  it("pages through 2,000 runs due at the same millisecond, a page of exactly 100 at a time", async () => {
    const { store, prefix, admin } = open();
    const runs = Array.from({ length: 2_000 }, (_, index) => ({
      runId: `tie-${(index * 7919) % 2_000}`,
      endpointId: "chat",
      status: index % 2 === 0 ? ("running" as const) : ("suspended" as const),
      dueAt: NOW - 10,
    }));
    await seed(admin, prefix, runs);
    const expected = runs.map(listed).sort(byOrder);
    const pages: ResumableRun[][] = [];
    let after: ResumableRun | undefined;
    for (let page: ResumableRun[]; (page = await store.listResumableRuns(NOW, 100, after)).length > 0; after = page[page.length - 1]) pages.push(page);
    expect(pages.map((page) => page.length)).toEqual(Array(20).fill(100));
    expect(pages.flat()).toEqual(expected);
  });

  it("reads from the cursor's rank on: entries past the page are never looked at, and a call cleaning up examines a bounded number", async () => {
    const { store, prefix, admin } = open();
    // 150 due runs, then 20,000 due-set entries whose run hashes are gone (evicted). The script removes
    // every such entry it examines, so what is left in the set tells what it examined.
    const live = Array.from({ length: 150 }, (_, index) => ({
      runId: `live-${String(index).padStart(3, "0")}`,
      endpointId: "chat",
      status: "suspended" as const,
      dueAt: NOW - 100_000 + index,
    }));
    const gone = Array.from({ length: 20_000 }, (_, index) => ({
      runId: `gone-${String(index).padStart(5, "0")}`,
      endpointId: "chat",
      status: "suspended" as const,
      dueAt: NOW - 50_000 + index,
      hash: false,
    }));
    await seed(admin, prefix, [...live, ...gone]);

    const first = await store.listResumableRuns(NOW, 100);
    expect(first).toEqual(live.slice(0, 100).map(listed));
    expect(await admin.zcard(`${prefix}due`)).toBe(20_150); // nothing past the page was examined

    // The next page runs into the stale entries: it removes some, at most 10 · limit + limit a call.
    const second = await store.listResumableRuns(NOW, 100, first[first.length - 1]);
    expect(second).toEqual(live.slice(100).map(listed));
    let size = await admin.zcard(`${prefix}due`);
    expect(size).toBeGreaterThanOrEqual(20_150 - 1_100);
    for (let calls = 0; size > 150; calls += 1) {
      expect(calls).toBeLessThan(40);
      await store.listResumableRuns(NOW, 100, second[second.length - 1]);
      const next = await admin.zcard(`${prefix}due`);
      expect(size - next).toBeLessThanOrEqual(1_100);
      expect(next).toBeLessThanOrEqual(size);
      size = next;
    }
    expect(await store.listResumableRuns(NOW, 1_000)).toEqual(live.map(listed));
  });
});
