// The process bench/suspended-runs.ts measures: runs that suspend and then finish, in batches of
// 100, taking turns: a 1 h sleep, a retry backoff of 1 h, an event wait (woken by durable.send).
// Time moves only through injected manual timers, so the 1 h waits pass at once. The store keeps
// no finished run (retention 0: a finished run is dropped when next read; the bench waits until
// every run of a batch is gone), so what stays on the heap is what the engine keeps.
// Usage: node --expose-gc --import tsx bench/suspended-runs-child.ts <runs> <warm-up runs> <memory|sqlite>
// (after `pnpm build`). Prints one JSON line: the heap after GC after the warm-up (baseline) and
// after the runs, and the seconds the runs took.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RUN_ID_HEADER } from "@durastream/protocol";
import { createDurable, MemoryRunStore, step, type RunStore, type Timers } from "@durastream/server";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc");

const runs = Number(process.argv[2] ?? 10_000);
const warmUp = Number(process.argv[3] ?? 1000);
const storeKind = process.argv[4] ?? "memory";
const batch = 100;
const kinds = ["sleep", "retry", "event"] as const;
const HOUR = 60 * 60_000;

/** Timers that move only when told to (as @durastream/testing's, without its test dependencies). */
function createManualTimers(): Timers & { advance(milliseconds: number): void } {
  let now = 0;
  let nextId = 1;
  const timers = new Map<number, { due: number; callback: () => void }>();
  return {
    now: () => now,
    setTimeout(callback, milliseconds) {
      const id = nextId++;
      timers.set(id, { due: now + milliseconds, callback });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    advance(milliseconds) {
      const until = now + milliseconds;
      for (;;) {
        let first: [number, { due: number; callback: () => void }] | undefined;
        for (const entry of timers) if (entry[1].due <= until && (first === undefined || entry[1].due < first[1].due)) first = entry;
        if (first === undefined) break;
        timers.delete(first[0]);
        now = first[1].due;
        first[1].callback();
      }
      now = until;
    },
  };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Moves the clock `milliseconds` forward in steps, letting the event loop turn between them. */
async function passTime(milliseconds: number, stepSize: number): Promise<void> {
  for (let elapsed = 0; elapsed < milliseconds; ) {
    const size = Math.min(stepSize, milliseconds - elapsed);
    timers.advance(size);
    elapsed += size;
    for (let index = 0; index < 3; index += 1) await turn();
  }
  for (let round = 0; round < 5; round += 1) {
    timers.advance(0);
    for (let index = 0; index < 3; index += 1) await turn();
  }
}

const timers = createManualTimers();
async function openStore(): Promise<RunStore> {
  if (storeKind === "memory") return new MemoryRunStore({ retention: 0, now: () => timers.now() });
  if (storeKind !== "sqlite") throw new Error(`store must be memory or sqlite, got ${storeKind}`);
  const { SqliteRunStore } = await import("@durastream/sqlite");
  return new SqliteRunStore({ path: join(mkdtempSync(join(tmpdir(), "durastream-suspended-")), "runs.sqlite"), retention: 0, now: () => timers.now() });
}
const store = await openStore();
const durable = createDurable({ store, timers, maxInlineWait: 1000, pollInterval: 60_000, retries: 1, backoff: () => HOUR });

let finished = 0;
const endpoint = durable.endpoint(
  async (request, { runId }) => {
    const kind = new URL(request.url).searchParams.get("kind");
    if (kind === "sleep") await step.sleep("nap", "1h");
    else if (kind === "retry") {
      await step.run("flaky", ({ attempt }) => {
        if (attempt === 1) throw new Error("the first attempt fails; the 1 h backoff suspends the run");
        return attempt;
      });
    } else await step.waitForEvent("go", { event: "go", match: { "data.runId": runId }, timeout: "1d" });
    finished += 1;
    return { ok: true };
  },
  { id: "suspended-runs" },
);

async function runBatch(count: number, kind: (typeof kinds)[number]): Promise<void> {
  const before = finished;
  const runIds = await Promise.all(
    Array.from({ length: count }, async () => {
      const response = await endpoint(new Request(`http://app.test/work?kind=${kind}`, { method: "POST" }));
      if (response.status !== 303) throw new Error(`expected a suspension (303), got ${response.status}`);
      await response.body?.cancel();
      return response.headers.get(RUN_ID_HEADER)!;
    }),
  );
  if (kind === "event") {
    for (const runId of runIds) await durable.send({ name: "go", data: { runId } });
    // `send` resolves once the event is stored; the runs resume in the background. Let them finish
    // before the clock jumps (a jump past the lease while they execute would take them over).
    for (let round = 0; finished - before < count && round < 10_000; round += 1) await turn();
  } else {
    await passTime(HOUR + 1000, HOUR);
  }
  // Resumed (by the executor's timer or the event), finished, and their results stored and dropped.
  for (let round = 0; finished - before < count; round += 1) {
    if (round > 200) throw new Error(`only ${finished - before} of ${count} ${kind} runs finished`);
    await passTime(60_000, 60_000);
  }
  const left = async () => (await Promise.all(runIds.map((runId) => store.getRun(runId)))).filter((record) => record !== undefined).length;
  for (let round = 0, remaining = await left(); remaining > 0; round += 1, remaining = await left()) {
    if (round > 5000) throw new Error(`${remaining} ${kind} runs still in the store`);
    // Their results are stored by real I/O (SQLite) that takes real time on a loaded machine.
    if (round < 1000) await turn();
    else await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

async function runMany(count: number): Promise<void> {
  for (let done = 0, index = 0; done < count; index += 1) {
    const size = Math.min(batch, count - done);
    await runBatch(size, kinds[index % kinds.length]!);
    done += size;
  }
}

async function settledHeap(): Promise<number> {
  for (let round = 0; round < 6; round += 1) {
    await turn();
    gc!();
  }
  return process.memoryUsage().heapUsed;
}

await runMany(warmUp);
const baseline = await settledHeap();
const started = performance.now();
await runMany(runs);
const seconds = (performance.now() - started) / 1000;
const after = await settledHeap();
if (finished !== warmUp + runs) throw new Error(`${finished} runs finished, expected ${warmUp + runs}`);
process.stdout.write(`${JSON.stringify({ store: storeKind, runs, warmUp, baseline, after, seconds })}\n`);
await durable.close({ timeout: 0 }); // closes the store too
