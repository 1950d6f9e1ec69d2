// Run by backpressure-memory.test.ts in a child `node --expose-gc`: a source far faster than the
// store, and a handler returning an endless body, with the heap measured after GC. Prints one JSON
// line: the heap after GC at a baseline (after a warm-up run of the same kind), its peak while the
// runs stream (sampled every so many items, each sample after a full GC), and the run's outcome.
//
//   pipe: one run pipes an always-ready source (1,000,000 chunks of 16 characters) into a slow store;
//   push: one run pushes 200,000 chunks of 1,000 characters in a tight loop, `await stream.ready` after each;
//   runs: 50 concurrent runs pipe 20,000 chunks each into the slow store (limits.maxBufferedBytes 256 KiB);
//   body: a handler returns a Response whose body never ends (64 KiB chunks).
//
// The slow store is a MemoryRunStore whose every append takes STORE_TURNS turns of the event loop
// (never a timer: the ratio of source speed to store speed does not depend on the machine) and
// which keeps no data frames, so that the heap measures the engine's backlog, not the store's log.
// Every chunk is the same string, so what `stream.pipe` keeps to resolve with (the concatenated
// text) is references, not copies; each frame's payload is a fresh string, as in production.
import { step, stream } from "./context.js";
import { createDurable, type DurableOptions } from "./create-durable.js";
import { MemoryRunStore } from "./store/memory-store.js";
import type { AppendEffects, FrameToAppend } from "./store/run-store.js";
import { collectFrames, sseRequest } from "@durastream/testing";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc");

const scenario = process.argv[2] ?? "pipe";
const MiB = 1024 * 1024;
const STORE_TURNS = 16;
/**
 * Pipes carry token-sized chunks, as model output does: `stream.pipe` keeps the text it resolves
 * with (joined into flat strings), which costs about the piped text itself, so small chunks keep
 * that part small next to what a backlog of frames costs. Pushes carry 1,000-character chunks.
 */
const CHUNK = scenario === "push" ? "x".repeat(1000) : "token-sized text";
/** Items between two heap samples (each a full GC). */
const SAMPLE_EVERY = scenario === "push" ? 10_000 : 50_000;
/** A body that has produced this much without being stopped is a runaway: the fixture ends it. */
const RUNAWAY_BODY_BYTES = 256 * MiB;

function afterTurns(turns: number): Promise<void> {
  return new Promise((resolve) => {
    let left = turns;
    const tick = (): void => {
      if (--left <= 0) resolve();
      else setImmediate(tick);
    };
    setImmediate(tick);
  });
}

/** A memory store whose appends each take STORE_TURNS turns of the event loop, and that drops data frames. */
class SlowStore extends MemoryRunStore {
  override appendFrames(runId: string, epoch: number, frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<string> {
    const kept = frames.filter((frame) => frame.type !== "data");
    return afterTurns(STORE_TURNS).then(() => super.appendFrames(runId, epoch, kept, effects));
  }
}

let peak = 0;
let samples = 0;
/** Heap after a full GC (JS heap plus ArrayBuffers, where a body's bytes live); keeps the peak. */
function sample(): void {
  gc!();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  peak = Math.max(peak, heapUsed + arrayBuffers);
  samples += 1;
}

async function settledHeap(): Promise<number> {
  for (let round = 0; round < 6; round += 1) {
    await new Promise((resolve) => setImmediate(resolve));
    gc!();
  }
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

let items = 0;
let bodyBytes = 0;
let bodyCancelled = false;

/** An always-ready source of `count` chunks (each read resolves in a microtask). */
async function* chunks(count: number): AsyncGenerator<string> {
  for (let index = 0; index < count; index += 1) {
    if (++items % SAMPLE_EVERY === 0) sample();
    yield CHUNK;
  }
}

/** A body that never ends: 64 KiB of fresh bytes per pull. */
function endlessBody(): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (bodyBytes >= RUNAWAY_BODY_BYTES) {
        controller.error(new Error(`runaway: the body was read past ${RUNAWAY_BODY_BYTES} bytes`));
        return;
      }
      bodyBytes += 65_536;
      if ((bodyBytes / 65_536) % 64 === 0) sample();
      controller.enqueue(new Uint8Array(65_536).fill(120));
    },
    cancel() {
      bodyCancelled = true;
    },
  });
}

const limits: NonNullable<DurableOptions["limits"]> = { maxLogBytes: 2 ** 40, maxFramesPerRun: 1e9 };
if (scenario === "runs") limits.maxBufferedBytes = 256 * 1024;
const store = scenario === "body" ? new MemoryRunStore() : new SlowStore();
const durable = createDurable({ store, limits });
const endpoint = durable.endpoint(
  async (request) => {
    const count = Number(new URL(request.url).searchParams.get("count"));
    if (scenario === "body") return new Response(endlessBody());
    if (scenario === "push") {
      await step.run("push", async () => {
        for (let index = 0; index < count; index += 1) {
          if (++items % SAMPLE_EVERY === 0) sample();
          stream.push(CHUNK);
          await stream.ready;
        }
      });
      return { pushed: count };
    }
    // The step's output is the length: the piped text itself would be journaled.
    const piped = await step.run("pipe", async () => (await stream.pipe(chunks(count))).length);
    return { piped };
  },
  { id: "backpressure" },
);

/** Runs `runs` runs of `count` items each at once; resolves with the first one's result frame. */
async function runAll(runs: number, count: number): Promise<{ status: string; body: string }> {
  const results = await Promise.all(
    Array.from({ length: runs }, async () => {
      const frames = await collectFrames(await endpoint(sseRequest(`http://app.test/work?count=${count}`, { method: "POST" })));
      const result = frames.at(-1);
      if (result?.type !== "result") throw new Error(`the run ended without a result frame: ${JSON.stringify(result)}`);
      return { status: result.status, body: result.response.body.slice(0, 600) };
    }),
  );
  return results[0]!;
}

const runs = scenario === "runs" ? 50 : 1;
const count = scenario === "runs" ? 20_000 : scenario === "pipe" ? 1_000_000 : 200_000;
const started = performance.now();
if (scenario === "body") {
  // The warm-up reads a small body; the baseline is taken before the endless one.
  await collectFrames(await durable.endpoint(async () => new Response("warm"), { id: "warm" })(sseRequest()));
} else {
  await runAll(runs, 5_000);
}
const baseline = await settledHeap();
items = 0;
peak = baseline;
const result = await runAll(runs, count);
const after = await settledHeap();
console.log(
  JSON.stringify({
    scenario,
    runs,
    count,
    items,
    bodyBytes,
    bodyCancelled,
    samples,
    baselineMiB: +(baseline / MiB).toFixed(1),
    peakMiB: +(peak / MiB).toFixed(1),
    grewMiB: +((peak - baseline) / MiB).toFixed(1),
    afterMiB: +(after / MiB).toFixed(1),
    seconds: +((performance.now() - started) / 1000).toFixed(1),
    result,
  }),
);
await durable.close({ timeout: 0 });
