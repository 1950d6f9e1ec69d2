// The shared tail (run-tail.ts) and the log streams that use it (log-stream.ts): one store read per
// append per process for every caught-up tailer of a run, and the behaviours of a single log stream
// kept (backpressure, keep-alives, redirects, shutdown, retried reads, the result frame, cleanup).
import { encodeFrame, KEEP_ALIVE_COMMENT, PROTOCOL_VERSION, type MetadataFrame, type RedirectReason } from "@durastream/protocol";
import { encodeEvent } from "@durastream/protocol/internal";
import { describe, expect, it, vi } from "vitest";
import type { ErrorPhase } from "./background-errors.js";
import { createDurable } from "./create-durable.js";
import { step, stream } from "./index.js";
import { DurableError, StoreRefusedError } from "./errors.js";
import { createLogStream, LiveStreams } from "./log-stream.js";
import { batchAfter, READ_BATCH, READ_MAX_BYTES, RunTails, type TailBatch } from "./run-tail.js";
import { MemoryRunStore } from "./store/memory-store.js";
import type { FrameToAppend, LogEntry } from "./store/run-store.js";
import { systemTimers } from "./timers.js";

/** A memory store that counts reads and live subscriptions, and fails reads on demand. */
class CountingStore extends MemoryRunStore {
  reads = 0;
  appends = 0;
  /** `maxBytes` of every read. */
  readonly bounds: (number | undefined)[] = [];
  subscriptions = 0;
  /** Errors the next reads reject with, in order. */
  readonly failures: unknown[] = [];

  override readFrames(runId: string, after: string | undefined, limit: number, maxBytes?: number): Promise<LogEntry[]> {
    this.reads += 1;
    this.bounds.push(maxBytes);
    const failure = this.failures.shift();
    if (failure !== undefined) return Promise.reject(failure);
    return super.readFrames(runId, after, limit, maxBytes);
  }

  override appendFrames(...args: Parameters<MemoryRunStore["appendFrames"]>): Promise<string> {
    this.appends += 1;
    return super.appendFrames(...args);
  }

  override subscribe(runId: string, listener: () => void): () => void {
    this.subscriptions += 1;
    const unsubscribe = super.subscribe(runId, listener);
    let active = true;
    return () => {
      if (active) this.subscriptions -= 1;
      active = false;
      unsubscribe();
    };
  }
}

const request = { method: "POST", url: "https://app.example/api/chat", headers: [], body: null, bodyEncoding: "text" } as const;
const response = { status: 200, statusText: "OK", headers: [], body: "done", bodyEncoding: "text" } as const;
const RESULT: FrameToAppend = { type: "result", payload: '{"status":200}' };
let runCounter = 0;

async function newRun(store: MemoryRunStore): Promise<string> {
  runCounter += 1;
  const runId = `tail-run-${runCounter}`;
  await store.createRun({ runId, endpointId: "tails", createdAt: Date.now(), request, owner: "test", leaseExpiresAt: Date.now() + 60_000 });
  return runId;
}

function frames(from: number, count: number, size = 0): FrameToAppend[] {
  return Array.from({ length: count }, (_, index) => ({
    type: "data" as const,
    payload: JSON.stringify({ step: null, data: `chunk ${from + index}${"x".repeat(size)}` }),
  }));
}

/** Every turn of the event loop's queued work done (microtasks, settled reads). */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function metadataOf(runId: string): MetadataFrame {
  return { type: "metadata", runId, protocolVersion: PROTOCOL_VERSION, resumeUrl: `https://app.example/api/durable/${runId}` };
}

interface TestTailer {
  readonly after: string | undefined;
  readonly pieces: string[];
  /** The sink answers "full" while set. */
  full: boolean;
  ended: boolean;
  error: unknown;
  cancelled: unknown;
  /** Lets the sink take more (clears `full`) and tells the stream. */
  drain(): void;
  cancel(): void;
  text(): string;
}

interface TailerOptions {
  readonly tails?: RunTails;
  readonly live?: LiveStreams;
  readonly after?: string;
  readonly keepAliveInterval?: number;
  readonly report?: (phase: ErrorPhase, error: unknown, runId?: string) => void;
  readonly redirect?: { readonly url: string; readonly maxDuration: number; readonly onSwitch?: (listener: (reason: RedirectReason) => void) => () => void };
}

function openTailer(store: MemoryRunStore, runId: string, options: TailerOptions = {}): TestTailer {
  const { source } = createLogStream({
    store,
    runId,
    after: options.after,
    metadata: metadataOf(runId),
    timers: systemTimers,
    keepAliveInterval: options.keepAliveInterval ?? 60_000,
    ...(options.tails === undefined ? {} : { tails: options.tails }),
    ...(options.live === undefined ? {} : { live: options.live }),
    ...(options.report === undefined ? {} : { report: options.report }),
    ...(options.redirect === undefined ? {} : { redirect: options.redirect }),
    onCancel: (reason) => (tailer.cancelled = reason),
  });
  const tailer: TestTailer = {
    after: options.after,
    pieces: [],
    full: false,
    ended: false,
    error: undefined,
    cancelled: undefined,
    drain() {
      tailer.full = false;
      source.resume();
    },
    cancel: () => source.cancel("test"),
    text: () => tailer.pieces.join(""),
  };
  source.start({
    write(text) {
      tailer.pieces.push(text);
      return !tailer.full;
    },
    end: () => (tailer.ended = true),
    error: (error) => (tailer.error = error),
  });
  return tailer;
}

/** The offsets (SSE ids) a tailer received, in order. */
function offsetsOf(tailer: TestTailer): string[] {
  return [...tailer.text().matchAll(/^id: (.+)$/gm)].map((match) => match[1]!);
}

/** What a tailer must have received: the metadata frame, then every frame after its offset. */
async function expectedText(store: MemoryRunStore, runId: string, after: string | undefined): Promise<string> {
  const entries = await MemoryRunStore.prototype.readFrames.call(store, runId, after, 1_000_000);
  return encodeFrame(metadataOf(runId)) + entries.map((entry) => encodeEvent(entry.type, entry.offset, entry.payload)).join("");
}

describe("shared tail", () => {
  it("serves 1,000 tailers of one run with one store read per append; each gets the whole log, in order", async () => {
    const store = new CountingStore();
    const tails = new RunTails(store);
    const runId = await newRun(store);
    await store.appendFrames(runId, 1, frames(0, 10));
    const tailers = Array.from({ length: 1_000 }, () => openTailer(store, runId, { tails }));
    await vi.waitFor(() => expect(tailers.every((tailer) => offsetsOf(tailer).length === 10)).toBe(true));
    await tick();
    expect(store.subscriptions).toBe(1);
    expect(tails.size).toBe(1);

    const readsBefore = store.reads;
    const appends = 100;
    for (let index = 0; index < appends; index += 1) {
      await store.appendFrames(runId, 1, frames(10 + index, 1 + (index % 3)));
      await tick();
    }
    await store.appendFrames(runId, 1, [RESULT], { finish: { status: "succeeded", response } });
    await vi.waitFor(() => expect(tailers.every((tailer) => tailer.ended)).toBe(true));

    // One read per append (the result's included), not one per tailer and append (101,000).
    expect(store.reads - readsBefore).toBe(appends + 1);
    const expected = await expectedText(store, runId, undefined);
    for (const tailer of tailers) expect(tailer.text()).toBe(expected);
    // The tail was dropped with its subscription when its last tailer left.
    expect(tails.size).toBe(0);
    expect(store.subscriptions).toBe(0);
  });

  it("appends that follow at once are read together, as by a single stream", async () => {
    const store = new CountingStore();
    const tails = new RunTails(store);
    const runId = await newRun(store);
    const tailers = Array.from({ length: 50 }, () => openTailer(store, runId, { tails }));
    await tick();
    const readsBefore = store.reads;
    // Three appends in one job: one read, one piece for each tailer.
    void store.appendFrames(runId, 1, frames(0, 1));
    void store.appendFrames(runId, 1, frames(1, 1));
    void store.appendFrames(runId, 1, frames(2, 1));
    await tick();
    expect(store.reads - readsBefore).toBe(1);
    for (const tailer of tailers) expect(tailer.pieces).toHaveLength(2);
    for (const tailer of tailers) tailer.cancel();
    expect(tails.size).toBe(0);
    expect(store.subscriptions).toBe(0);
  });

  it("a slow tailer drops out of the fan-out without stalling the others, then catches up from the store", async () => {
    const store = new CountingStore();
    const tails = new RunTails(store);
    const runId = await newRun(store);
    const fast = Array.from({ length: 20 }, () => openTailer(store, runId, { tails }));
    const slow = openTailer(store, runId, { tails });
    await tick();

    slow.full = true;
    await store.appendFrames(runId, 1, frames(0, 1));
    await tick();
    // A full sink takes the batch it is given, and keeps its place while it might drain in time.
    expect(offsetsOf(slow)).toEqual(["1-1"]);
    const piecesWhenFull = slow.pieces.length;
    const readsBefore = store.reads;
    for (let index = 1; index < 50; index += 1) {
      await store.appendFrames(runId, 1, frames(index, 1));
      await tick();
    }
    // The others got every frame as it came, with one read per append; nothing was given to the
    // slow tailer meanwhile (nothing piles up for it) and it made no read.
    for (const tailer of fast) expect(offsetsOf(tailer)).toHaveLength(50);
    expect(slow.pieces).toHaveLength(piecesWhenFull);
    expect(store.reads - readsBefore).toBe(49);

    // It drains: one read of its own brings it up to date, then it is fed by the tail again.
    slow.drain();
    await tick();
    expect(offsetsOf(slow)).toHaveLength(50);
    const readsAfterCatchUp = store.reads;
    await store.appendFrames(runId, 1, frames(50, 1));
    await tick();
    expect(store.reads - readsAfterCatchUp).toBe(1);
    expect(offsetsOf(slow)).toHaveLength(51);

    await store.appendFrames(runId, 1, [RESULT], { finish: { status: "succeeded", response } });
    await vi.waitFor(() => expect([...fast, slow].every((tailer) => tailer.ended)).toBe(true));
    const expected = await expectedText(store, runId, undefined);
    for (const tailer of [...fast, slow]) expect(tailer.text()).toBe(expected);
    expect(tails.size).toBe(0);
  });

  it("a reader that takes every piece but pauses after each (a Web stream) stays in the fan-out", async () => {
    const store = new CountingStore();
    const tails = new RunTails(store);
    const runId = await newRun(store);
    const tailers = Array.from({ length: 10 }, () => openTailer(store, runId, { tails }));
    await tick();
    const readsBefore = store.reads;
    for (let index = 0; index < 20; index += 1) {
      for (const tailer of tailers) tailer.full = true;
      await store.appendFrames(runId, 1, frames(index, 1));
      await tick();
      for (const tailer of tailers) tailer.drain();
    }
    expect(store.reads - readsBefore).toBe(20);
    for (const tailer of tailers) expect(offsetsOf(tailer)).toHaveLength(20);
    for (const tailer of tailers) tailer.cancel();
  });

  it("tailers joining mid-run from old offsets, some slow, get exactly the frames after their offset", async () => {
    const store = new CountingStore();
    const tails = new RunTails(store);
    const runId = await newRun(store);
    const random = mulberry32(12);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const offsets: string[] = [];
    const tailers: TestTailer[] = [];
    let next = 0;
    for (let round = 0; round < 400; round += 1) {
      const action = random();
      if (action < 0.45) {
        const count = 1 + Math.floor(random() * 4);
        const last = await store.appendFrames(runId, 1, frames(next, count, Math.floor(random() * 64)));
        next += count;
        const sequence = Number(last.split("-")[1]);
        for (let index = sequence - count + 1; index <= sequence; index += 1) offsets.push(`1-${index}`);
      } else if (action < 0.7) {
        const after = random() < 0.2 ? undefined : offsets.length === 0 ? undefined : pick(offsets);
        tailers.push(openTailer(store, runId, { tails, ...(after === undefined ? {} : { after }) }));
      } else if (action < 0.85 && tailers.length > 0) {
        pick(tailers).full = true;
      } else if (tailers.length > 0) {
        pick(tailers).drain();
      }
      if (random() < 0.5) await tick();
    }
    // Offsets past the end of the log so far, which the run then reaches (a resumed client).
    tailers.push(openTailer(store, runId, { tails, after: offsets.at(-1)! }));
    await store.appendFrames(runId, 1, [...frames(next, 3), RESULT], { finish: { status: "succeeded", response } });
    await vi.waitFor(() => {
      for (const tailer of tailers) if (!tailer.ended) tailer.drain();
      expect(tailers.every((tailer) => tailer.ended)).toBe(true);
    });
    expect(tailers.length).toBeGreaterThan(50);
    for (const tailer of tailers) expect(tailer.text()).toBe(await expectedText(store, runId, tailer.after));
    expect(tails.size).toBe(0);
    expect(store.subscriptions).toBe(0);
  });

  it("a failed shared read is reported and retried by each tailer; they catch up and share again", async () => {
    const store = new CountingStore();
    const tails = new RunTails(store);
    const runId = await newRun(store);
    const reports: [ErrorPhase, unknown, string | undefined][] = [];
    const report = (phase: ErrorPhase, error: unknown, run?: string) => void reports.push([phase, error, run]);
    const tailers = Array.from({ length: 10 }, () => openTailer(store, runId, { tails, report }));
    await tick();
    const outage = new DurableError("STORE_UNAVAILABLE", "the store is down");
    store.failures.push(outage);
    await store.appendFrames(runId, 1, frames(0, 2));
    await tick();
    expect(reports.length).toBeGreaterThan(0);
    for (const [phase, error, run] of reports) expect([phase, error, run]).toEqual(["log-read", outage, runId]);
    await vi.waitFor(() => expect(tailers.every((tailer) => offsetsOf(tailer).length === 2)).toBe(true));
    await tick();
    const readsBefore = store.reads;
    await store.appendFrames(runId, 1, [RESULT], { finish: { status: "succeeded", response } });
    await vi.waitFor(() => expect(tailers.every((tailer) => tailer.ended)).toBe(true));
    expect(store.reads - readsBefore).toBe(1);
    const expected = await expectedText(store, runId, undefined);
    for (const tailer of tailers) expect(tailer.text()).toBe(expected);
  });

  it("a run that is gone ends every tailer with the store's refusal", async () => {
    const store = new CountingStore();
    const tails = new RunTails(store);
    const runId = await newRun(store);
    const tailers = Array.from({ length: 5 }, () => openTailer(store, runId, { tails }));
    await tick();
    const refusal = new StoreRefusedError("unknown-run", runId);
    store.failures.push(refusal);
    await store.appendFrames(runId, 1, frames(0, 1));
    await tick();
    for (const tailer of tailers) expect(tailer.error).toBe(refusal);
    expect(tails.size).toBe(0);
    expect(store.subscriptions).toBe(0);
  });

  it("caught-up tailers send keep-alives without reading the store", async () => {
    const store = new CountingStore();
    const tails = new RunTails(store);
    const runId = await newRun(store);
    const tailers = Array.from({ length: 5 }, () => openTailer(store, runId, { tails, keepAliveInterval: 20 }));
    await tick();
    const readsBefore = store.reads;
    await vi.waitFor(() => expect(tailers.every((tailer) => tailer.pieces.filter((piece) => piece === KEEP_ALIVE_COMMENT).length >= 2)).toBe(true));
    expect(store.reads).toBe(readsBefore);
    for (const tailer of tailers) tailer.cancel();
    for (const tailer of tailers) expect(tailer.cancelled).toBe("test");
    expect(tails.size).toBe(0);
  });

  it("caught-up tailers redirect after maxDuration, with every frame before the redirect frame", async () => {
    const store = new CountingStore();
    const tails = new RunTails(store);
    const runId = await newRun(store);
    const url = "https://app.example/api/durable/x?token=t";
    const tailers = Array.from({ length: 5 }, () => openTailer(store, runId, { tails, redirect: { url, maxDuration: 80 } }));
    await tick();
    await store.appendFrames(runId, 1, frames(0, 3));
    await vi.waitFor(() => expect(tailers.every((tailer) => tailer.ended)).toBe(true));
    const expected = (await expectedText(store, runId, undefined)) + encodeFrame({ type: "redirect", url, reason: "max-duration" });
    for (const tailer of tailers) expect(tailer.text()).toBe(expected);
    expect(tails.size).toBe(0);
  });

  it("LiveStreams carries the shared tails (createDurable's wiring) and a shutdown redirects the tailers", async () => {
    const store = new CountingStore();
    const live = new LiveStreams(store);
    const runId = await newRun(store);
    const url = "https://app.example/api/durable/x?token=t";
    const tailers = Array.from({ length: 20 }, () => openTailer(store, runId, { live, redirect: { url, maxDuration: Number.POSITIVE_INFINITY } }));
    await tick();
    const readsBefore = store.reads;
    await store.appendFrames(runId, 1, frames(0, 2));
    await tick();
    expect(store.reads - readsBefore).toBe(1);
    expect(live.tails!.size).toBe(1);
    await live.shutdown(1_000, systemTimers);
    const expected = (await expectedText(store, runId, undefined)) + encodeFrame({ type: "redirect", url, reason: "shutdown" });
    for (const tailer of tailers) expect(tailer.text()).toBe(expected);
    expect(live.tails!.size).toBe(0);
    expect(store.subscriptions).toBe(0);
  });

  it("drops the tail of each run when its last tailer leaves, and starts a fresh one for new tailers", async () => {
    const store = new CountingStore();
    const tails = new RunTails(store);
    const runs = await Promise.all(Array.from({ length: 5 }, () => newRun(store)));
    const tailers = runs.flatMap((runId) => Array.from({ length: 3 }, () => openTailer(store, runId, { tails })));
    await tick();
    expect(tails.size).toBe(5);
    expect(store.subscriptions).toBe(5);
    for (const tailer of tailers) tailer.cancel();
    expect(tails.size).toBe(0);
    expect(store.subscriptions).toBe(0);

    const again = openTailer(store, runs[0]!, { tails });
    await tick();
    expect(tails.size).toBe(1);
    await store.appendFrames(runs[0]!, 1, [...frames(0, 1), RESULT], { finish: { status: "succeeded", response } });
    await vi.waitFor(() => expect(again.ended).toBe(true));
    expect(again.text()).toBe(await expectedText(store, runs[0]!, undefined));
    expect(tails.size).toBe(0);
  });

  it("lets a tailer join at or past the tail's cursor only, and gives one that joined ahead only its frames", async () => {
    const store = new CountingStore();
    const tails = new RunTails(store);
    const runId = await newRun(store);
    const batches = new Map<string, string[]>();
    const cursors = new Map<string, string>([
      ["first", "1-1"],
      ["behind", "1-3"],
      ["ahead", "1-4"],
    ]);
    /** A member as log-stream.ts is one: it takes the frames of a batch after its own cursor. */
    const tailer = (name: string) => ({
      appended: () => {},
      deliver: (batch: TailBatch) => {
        const rest = batch.after === cursors.get(name) ? batch : batchAfter(batch, cursors.get(name));
        if (rest.last === undefined) return;
        cursors.set(name, rest.last);
        batches.set(name, [...(batches.get(name) ?? []), rest.text]);
      },
      failed: () => {},
    });
    await store.appendFrames(runId, 1, frames(0, 1));
    const first = tails.open(runId, tailer("first"));
    expect(first.join("1-1")).toBe(true);
    await store.appendFrames(runId, 1, frames(1, 2));
    await tick();
    // The tail has read up to 1-3: a tailer at 1-1 must read on its own first.
    const behind = tails.open(runId, tailer("behind"));
    expect(behind.join("1-1")).toBe(false);
    expect(behind.join(undefined)).toBe(false);
    expect(behind.join("1-3")).toBe(true);
    // One whose own read saw a frame the tail has not read yet (a store whose notifications lag).
    await store.appendFrames(runId, 1, frames(3, 1));
    const ahead = tails.open(runId, tailer("ahead"));
    expect(ahead.join("1-4")).toBe(true);
    await tick();
    await store.appendFrames(runId, 1, frames(4, 1));
    await tick();
    const entries = await MemoryRunStore.prototype.readFrames.call(store, runId, undefined, 100);
    const texts = entries.map((entry) => encodeEvent(entry.type, entry.offset, entry.payload));
    expect(batches.get("first")).toEqual([texts.slice(1, 3).join(""), texts[3], texts[4]]);
    expect(batches.get("behind")).toEqual([texts[3], texts[4]]);
    expect(batches.get("ahead")).toEqual([texts[4]]);
    for (const membership of [first, behind, ahead]) membership.close();
    expect(tails.size).toBe(0);
    expect(store.subscriptions).toBe(0);
  });

  it("without a registry, each stream has a tail of its own (no sharing, same behaviour)", async () => {
    const store = new CountingStore();
    const runId = await newRun(store);
    const tailers = Array.from({ length: 3 }, () => openTailer(store, runId));
    await tick();
    const readsBefore = store.reads;
    await store.appendFrames(runId, 1, [...frames(0, 1), RESULT], { finish: { status: "succeeded", response } });
    await vi.waitFor(() => expect(tailers.every((tailer) => tailer.ended)).toBe(true));
    expect(store.reads - readsBefore).toBe(3);
    expect(store.subscriptions).toBe(0);
  });
});

describe("byte-bounded log reads", () => {
  it("reads large frames a few MiB at a time: every read passes maxBytes, and the client gets everything", async () => {
    const store = new CountingStore();
    const tails = new RunTails(store);
    const runId = await newRun(store);
    // 24 frames of 512 KiB: one read of READ_BATCH frames would build a 12 MiB string.
    for (let index = 0; index < 24; index += 1) await store.appendFrames(runId, 1, frames(index, 1, 1 << 19));
    await store.appendFrames(runId, 1, [RESULT], { finish: { status: "succeeded", response } });
    store.bounds.length = 0;
    const readsBefore = store.reads;
    const late = openTailer(store, runId, { tails, after: "1-2" });
    const fromStart = openTailer(store, runId, { tails });
    await vi.waitFor(() => expect(late.ended && fromStart.ended).toBe(true));
    expect(store.bounds.every((bound) => bound === READ_MAX_BYTES)).toBe(true);
    // Each read stops at 4 MiB: several reads per tailer, each piece a few MiB.
    expect(store.reads - readsBefore).toBeGreaterThanOrEqual(2 * Math.ceil((22 << 19) / READ_MAX_BYTES));
    for (const piece of fromStart.pieces) expect(piece.length).toBeLessThan(READ_MAX_BYTES + (1 << 20));
    expect(fromStart.text()).toBe(await expectedText(store, runId, undefined));
    expect(late.text()).toBe(await expectedText(store, runId, "1-2"));
    expect(READ_BATCH).toBe(512);
  });
});

describe("shared tail through createDurable", () => {
  it("1,000 wait-endpoint tailers (Web streams) of one run cost about one read per append", async () => {
    const store = new CountingStore();
    const durable = createDurable({ store });
    const gates: (() => void)[] = [];
    const chunks = 40;
    const endpoint = durable.endpoint(
      async () => {
        await step.run("ticks", async () => {
          for (let index = 0; index < chunks; index += 1) {
            await new Promise<void>((resolve) => gates.push(resolve));
            stream.push({ index });
          }
          return "done";
        });
        return Response.json({ ok: true });
      },
      { id: "fanout" },
    );
    const waitEndpoint = durable.waitEndpoint();
    try {
      const starter = await endpoint(new Request("https://app.example/api/fanout", { method: "POST", headers: { accept: "text/event-stream" } }));
      const starterText = readAll(starter);
      const resumeUrl = await vi.waitFor(() => {
        const match = /"resumeUrl":"([^"]+)"/.exec(starterText.text);
        expect(match).not.toBeNull();
        return match![1]!;
      });
      const tailers = await Promise.all(
        Array.from({ length: 1_000 }, async () => readAll(await waitEndpoint(new Request(resumeUrl, { headers: { accept: "text/event-stream" } })))),
      );
      await vi.waitFor(() => expect(gates).toHaveLength(1));
      for (let round = 0; round < 5; round += 1) await tick();
      const readsBefore = store.reads;
      const appendsBefore = store.appends;
      for (let index = 0; index < chunks; index += 1) {
        await vi.waitFor(() => expect(gates.length).toBeGreaterThan(0));
        gates.shift()!();
        await vi.waitFor(() => expect(tailers.every((tailer) => countData(tailer.text) === index + 1)).toBe(true));
      }
      await Promise.all([starterText.done, ...tailers.map((tailer) => tailer.done)]);
      const appends = store.appends - appendsBefore;
      const reads = store.reads - readsBefore;
      // One read per append of the run (42 here: chunks, commit, result), not one per tailer and append.
      expect(appends).toBeGreaterThanOrEqual(chunks);
      expect(reads).toBeLessThanOrEqual(appends + 2);
      const events = (text: string) => text.slice(text.indexOf("\n\n") + 2).replace(/"resumeUrl":"[^"]+"/g, "");
      for (const tailer of tailers) expect(events(tailer.text)).toBe(events(starterText.text));
      expect(countData(starterText.text)).toBe(chunks);
      expect(starterText.text).toContain("event: result");
      expect(store.subscriptions).toBe(0);
    } finally {
      await durable.close({ timeout: 1_000 });
    }
  });
});

/** Reads a response body to its end in the background; `text` grows as pieces come. */
function readAll(response: Response): { text: string; done: Promise<void> } {
  const result = { text: "", done: Promise.resolve() };
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  result.done = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      result.text += decoder.decode(value, { stream: true });
    }
  })();
  return result;
}

function countData(text: string): number {
  return text.split("event: data\n").length - 1;
}

/** A small seeded PRNG, so the randomized test is reproducible. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}
