// Run by suspension-memory.test.ts in a child `node --expose-gc`: runs that suspend (a long sleep, a
// long retry backoff, an event wait) and then finish, each holding 64 KB on the JS heap across the
// suspending await, in batches; prints the heap after GC at a baseline (after a warm-up) and at the
// end, as one JSON line. Time moves only through injected manual timers.
import { RUN_ID_HEADER } from "@durastream/protocol";
import { step } from "./context.js";
import { createDurable } from "./create-durable.js";
import { MemoryRunStore } from "./store/memory-store.js";
import { createManualTimers, passTime } from "@durastream/testing";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc");

const runs = Number(process.argv[2] ?? 1200);
const warmUp = Number(process.argv[3] ?? 300);
const batch = 100;
const kinds = ["sleep", "retry", "event"] as const;

const timers = createManualTimers();
// Retention 0: a finished run is dropped from the store when next read, so the store's own data
// does not count against the executions.
const store = new MemoryRunStore({ retention: 0, now: () => timers.now() });
const durable = createDurable({ store, timers, maxInlineWait: 1000, pollInterval: 60_000, retries: 1, backoff: () => 60 * 60_000 });

let finished = 0;
const endpoint = durable.endpoint(
  async (request, { runId }) => {
    const kind = new URL(request.url).searchParams.get("kind");
    // 64 KB on the JS heap (packed doubles), reachable from this frame across the suspending await.
    const held = Array.from({ length: 8192 }, (_, index) => index + 0.5);
    if (kind === "sleep") await step.sleep("nap", "1h");
    else if (kind === "retry") {
      await step.run("flaky", ({ attempt }) => {
        if (attempt === 1) throw new Error("first attempt fails; the 1 h backoff suspends the run");
        return attempt;
      });
    } else await step.waitForEvent("go", { event: "go", match: { "data.runId": runId }, timeout: "1d" });
    finished += 1;
    return { length: held.length };
  },
  { id: "memory" },
);

async function runBatch(count: number, kind: (typeof kinds)[number]): Promise<void> {
  const before = finished;
  const runIds = await Promise.all(
    Array.from({ length: count }, async () => {
      const response = await endpoint(new Request(`http://app.test/work?kind=${kind}`, { method: "POST" }));
      if (response.status !== 303) throw new Error(`expected a suspension (303), got ${response.status}`);
      return response.headers.get(RUN_ID_HEADER)!;
    }),
  );
  if (kind === "event") {
    for (const runId of runIds) await durable.send({ name: "go", data: { runId } });
    // `send` resolves once the event is stored; the runs resume in the background. Let them finish
    // before the clock jumps (a jump past the lease while they execute would take them over).
    for (let round = 0; finished - before < count && round < 10_000; round += 1) await new Promise((resolve) => setImmediate(resolve));
  } else {
    await passTime(timers, 60 * 60_000 + 1000, 60 * 60_000);
  }
  // Resumed (by the executor's timer or the event), finished, and their results stored and dropped.
  for (let round = 0; finished - before < count; round += 1) {
    if (round > 200) throw new Error(`only ${finished - before} of ${count} ${kind} runs finished`);
    await passTime(timers, 60_000, 60_000);
  }
  const left = async () => (await Promise.all(runIds.map((runId) => store.getRun(runId)))).filter((record) => record !== undefined).length;
  for (let round = 0, remaining = await left(); remaining > 0; round += 1, remaining = await left()) {
    if (round > 1000) throw new Error(`${remaining} ${kind} runs still in the store`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function settledHeap(): Promise<{ heapUsed: number; external: number }> {
  for (let round = 0; round < 6; round += 1) {
    await new Promise((resolve) => setImmediate(resolve));
    gc!();
  }
  const { heapUsed, external } = process.memoryUsage();
  return { heapUsed, external };
}

async function runMany(count: number): Promise<void> {
  for (let done = 0, index = 0; done < count; index += 1) {
    const size = Math.min(batch, count - done);
    await runBatch(size, kinds[index % kinds.length]!);
    done += size;
    timers.scheduled.length = 0; // the manual timers' own record of every delay
  }
}

await runMany(warmUp);
const baseline = await settledHeap();
await runMany(runs);
const after = await settledHeap();
console.log(JSON.stringify({ runs, warmUp, finished, baseline, after }));
await durable.close({ timeout: 0 });
