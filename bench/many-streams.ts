// Many concurrent streams: N streams × R chunks/s for S seconds, through a hand-written node:http
// SSE endpoint ("raw", read by a bare eventsource-parser loop) and through a Durastream endpoint
// on the memory store ("durable", read by fetchWithStream). The servers run in a child process
// (bench/many-streams-server.ts, a fresh one per endpoint so memory is measured from a clean
// process), the clients here.
//
// Per endpoint: a short warm-up with a few streams; the server's RSS with no stream open; then all
// N streams are opened and the measuring window starts only once every one of them has delivered
// a chunk, plus `warmupSeconds`. Over the window: latency of every chunk (server stamps the moment
// it produced the chunk, the client the moment its callback saw it; both are `performance.timeOrigin
// + performance.now()`, corrected by the clock offset between the two processes measured over
// loopback), the server's CPU time (`process.cpuUsage()`), and the chunks delivered. At its end,
// with every stream still open, the server's RSS again (after a GC in both readings).
// A machine that cannot keep up shows as fewer chunks delivered than expected, not as a failure.
// The server's one ticker produces each stream's chunk once per period. By default the streams'
// phases are spread evenly over the period (as independent model calls are); `phases: "together"`
// gives every stream its chunk on the same tick, a burst of N chunks in which a chunk's latency is
// mostly its place in the burst, on the server and in the clients.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fetchWithStream } from "@durastream/client";
import { createParser } from "eventsource-parser";

export interface ManyStreamsOptions {
  /** Concurrent streams per endpoint. */
  readonly streams: number;
  /** Chunks per second per stream (the server's one ticker runs every 1000 / chunksPerSecond ms). */
  readonly chunksPerSecond: number;
  /** Length of the measuring window. */
  readonly seconds: number;
  /** Seconds every stream runs before the window opens. Default 2. */
  readonly warmupSeconds?: number;
  /**
   * "spread" (default): the streams' chunks are spread evenly over each period, as independent
   * model calls are. "together": every stream gets its chunk on the same tick, a burst of one chunk
   * per stream — the worst case, where a chunk's latency is mostly its place in the burst.
   */
  readonly phases?: "spread" | "together";
  /**
   * Rounds, each measuring the raw endpoint and then the durable one (a fresh server process each).
   * Every figure reported is the median over the rounds; added latency is the median of each
   * round's durable − raw difference. Default 1.
   */
  readonly rounds?: number;
}

export interface ManyStreamsVariant {
  readonly name: string;
  /** Streams that had delivered a chunk before the window opened (all of them, unless the machine could not open them in time). */
  readonly streamsStarted: number;
  /** Seconds from opening the first stream until every stream had delivered a chunk. */
  readonly openSeconds: number;
  /** Streams that delivered at least one chunk inside the window. */
  readonly streamsDelivering: number;
  /** Length of the window, seconds. */
  readonly windowSeconds: number;
  /** streams × chunksPerSecond × windowSeconds. */
  readonly chunksExpected: number;
  /** Chunks the clients received inside the window. */
  readonly chunksDelivered: number;
  /** Chunks the server produced inside the window. */
  readonly chunksProduced: number;
  /** Latency per chunk, server producing it → client callback, ms. */
  readonly latencyP50: number;
  readonly latencyP99: number;
  readonly latencyMax: number;
  /** Server CPU time (user + system) over the window per chunk delivered, µs. */
  readonly cpuPerChunkMicros: number;
  /** Server CPU over the window as a share of one core. */
  readonly serverCpuShare: number;
  /** CPU of this (client) process over the window as a share of one core: near 1 means the clients, not the server, set the latency. */
  readonly clientCpuShare: number;
  /** (server RSS with every stream open − RSS with none) / streams, KB. */
  readonly memoryPerStreamKB: number;
  /**
   * The same just after every stream delivered its first chunk: the cost of an open stream before
   * its output accumulates (the memory store keeps every frame of a run, so the durable figure
   * above grows with how long the streams have run: warm-up plus window).
   */
  readonly memoryPerStreamOpenedKB: number;
  /** The same as memoryPerStreamKB and memoryPerStreamOpenedKB for the V8 heap in use, KB. */
  readonly heapPerStreamKB: number;
  readonly heapPerStreamOpenedKB: number;
  /** Server clock minus bench clock as estimated over loopback, ms; already subtracted from the latencies. */
  readonly clockOffsetMs: number;
  /** Streams that failed (network or protocol errors); 0 when all went well. */
  readonly errors: number;
}

export interface ManyStreamsResult {
  readonly options: Required<ManyStreamsOptions>;
  readonly raw: ManyStreamsVariant;
  readonly durable: ManyStreamsVariant;
  /** durable − raw latency, ms (median over the rounds of each round's difference). */
  readonly addedLatencyP50: number;
  readonly addedLatencyP99: number;
  /** Each round's durable − raw p99 latency, ms, in round order. */
  readonly addedLatencyP99Rounds: readonly number[];
}

interface ServerStats {
  readonly now: number;
  readonly cpu: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly produced: { readonly raw: number; readonly durable: number };
  readonly active: { readonly raw: number; readonly durable: number };
}

interface Child {
  readonly ports: { readonly raw: number; readonly durable: number; readonly control: number };
  /** Server clock minus bench clock, ms. */
  readonly clockOffset: number;
  stats(gc?: boolean): Promise<ServerStats>;
  stop(variant: Kind): Promise<void>;
  exit(): Promise<void>;
}

type Kind = "raw" | "durable";

const now = (): number => performance.timeOrigin + performance.now();

async function startChild(tickMs: number, phases: "spread" | "together"): Promise<Child> {
  // BENCH_PROFILE=dir writes a V8 CPU profile of the server process to dir (open it in Chrome DevTools).
  const profile = process.env.BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const script = new URL("./many-streams-server.ts", import.meta.url).pathname;
  const child: ChildProcess = spawn(
    process.execPath,
    [...profile, ...(process.env.BENCH_SERVER_FLAGS?.split(" ").filter(Boolean) ?? []), "--expose-gc", "--import", "tsx", script],
    {
      stdio: ["ignore", "pipe", "inherit"],
      env: {
        ...process.env,
        BENCH_TICK_MS: String(tickMs),
        BENCH_PHASES: phases,
        DURASTREAM_SECRET: process.env.DURASTREAM_SECRET ?? "bench-secret-not-for-production",
      },
    },
  );
  const exited = once(child, "exit");
  const lines = createInterface({ input: child.stdout! });
  // BENCH_SERVER_OUTPUT=1 shows what the server prints after its first line (e.g. --trace-gc).
  if (process.env.BENCH_SERVER_OUTPUT) lines.on("line", (text) => console.error(`[server] ${text}`));
  const portsLine = new Promise<[string]>((resolve) => {
    const onLine = (text: string) => {
      if (!text.startsWith("{")) return;
      lines.off("line", onLine);
      resolve([text]);
    };
    lines.on("line", onLine);
  });
  const [line] = (await Promise.race([
    portsLine,
    exited.then(([code]) => Promise.reject(new Error(`bench/many-streams-server.ts exited with ${String(code)} before listening`))),
  ])) as [string];
  const ports = JSON.parse(line) as Child["ports"];
  const control = `http://127.0.0.1:${ports.control}`;
  const get = async <T>(path: string, method = "GET"): Promise<T> => (await (await fetch(`${control}${path}`, { method })).json()) as T;

  // Clock offset from the round trip with the smallest delay: server time vs. the middle of the round trip.
  let best = { rtt: Number.POSITIVE_INFINITY, offset: 0 };
  for (let ping = 0; ping < 30; ping += 1) {
    const sent = now();
    const { now: serverNow } = await get<{ now: number }>("/clock");
    const received = now();
    if (received - sent < best.rtt) best = { rtt: received - sent, offset: serverNow - (sent + received) / 2 };
  }
  return {
    ports,
    clockOffset: best.offset,
    stats: (gc = false) => get<ServerStats>(`/stats${gc ? "?gc=1" : ""}`),
    stop: async (variant) => void (await get(`/stop?variant=${variant}`, "POST")),
    async exit() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGINT"); // the server exits cleanly on SIGINT, so a CPU profile gets written
      await exited;
    },
  };
}

/** What the clients of one run of streams saw. */
class Collector {
  latencies = new Float64Array(1 << 16);
  count = 0;
  recording = false;
  started = 0;
  readonly #startedStreams: Uint8Array;
  readonly delivering: Uint8Array;
  errors = 0;

  constructor(
    streams: number,
    readonly clockOffset: number,
  ) {
    this.#startedStreams = new Uint8Array(streams);
    this.delivering = new Uint8Array(streams);
  }

  /** A chunk produced at `produced` (server clock) reached stream `index`'s client now. */
  record(index: number, produced: number): void {
    const received = now();
    if (this.#startedStreams[index] === 0) {
      this.#startedStreams[index] = 1;
      this.started += 1;
    }
    if (!this.recording) return;
    if (this.count === this.latencies.length) {
      const grown = new Float64Array(this.latencies.length * 2);
      grown.set(this.latencies);
      this.latencies = grown;
    }
    this.latencies[this.count++] = received - (produced - this.clockOffset);
    this.delivering[index] = 1;
  }
}

/** Reads a raw stream with a bare eventsource-parser loop. */
async function readRaw(url: string, index: number, collector: Collector, signal: AbortSignal): Promise<void> {
  const parser = createParser({
    onEvent: (event) => {
      if (event.event === "data") collector.record(index, Number((JSON.parse(event.data) as { data: string }).data));
    },
  });
  const response = await fetch(url, { headers: { accept: "text/event-stream" }, signal });
  const decoder = new TextDecoder();
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
}

/** Reads a durable stream with fetchWithStream. */
async function readDurable(url: string, index: number, collector: Collector, signal: AbortSignal): Promise<void> {
  const response = await fetchWithStream(url, {
    fetchOpts: { signal },
    reconnect: false, // a dropped connection counts as an error here
    onData: ({ data }) => collector.record(index, Number(data)),
  });
  await response.text();
}

/** The clients of one run of streams: one promise and one AbortController per stream. */
interface Readers {
  readonly done: Promise<void>[];
  readonly controllers: AbortController[];
}

/** Opens `streams` streams, a few at a time so the listen backlog is not flooded. */
async function openStreams(kind: Kind, url: string, streams: number, collector: Collector): Promise<Readers> {
  const read = kind === "raw" ? readRaw : readDurable;
  const readers: Readers = { done: [], controllers: [] };
  for (let index = 0; index < streams; index += 1) {
    // A signal per stream: fetch (undici) caps the listeners on a signal it is given at 1,500.
    const controller = new AbortController();
    readers.controllers.push(controller);
    readers.done.push(
      read(url, index, collector, controller.signal).catch(() => {
        if (!controller.signal.aborted) collector.errors += 1;
      }),
    );
    if (index % 50 === 49) await sleep(5);
  }
  return readers;
}

/** Waits until `condition` holds or `timeoutMs` passes; resolves with whether it held. */
async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** Ends every stream of `kind` on the server and waits for the clients to finish (aborting stragglers). */
async function closeStreams(child: Child, kind: Kind, readers: Readers): Promise<void> {
  await child.stop(kind);
  let settled = false;
  const all = Promise.all(readers.done).then(() => (settled = true));
  await Promise.race([all, sleep(30_000, undefined, { ref: false })]);
  if (!settled) {
    for (const controller of readers.controllers) controller.abort();
    await all;
  }
}

/** The value at quantile `q` of sorted values (nearest rank). */
function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

async function measureVariant(kind: Kind, options: Required<ManyStreamsOptions>): Promise<ManyStreamsVariant> {
  const { streams, chunksPerSecond, seconds, warmupSeconds, phases } = options;
  const child = await startChild(1000 / chunksPerSecond, phases);
  try {
    const url = kind === "raw" ? `http://127.0.0.1:${child.ports.raw}/` : `http://127.0.0.1:${child.ports.durable}/stream`;

    // Warm-up with a few streams, so the code is compiled before the baseline is taken.
    {
      const few = Math.min(streams, 50);
      const collector = new Collector(few, child.clockOffset);
      const readers = await openStreams(kind, url, few, collector);
      await until(() => collector.started === few, 10_000);
      await sleep(1000);
      await closeStreams(child, kind, readers);
    }
    await sleep(200);
    // Both endpoints' clients start from a collected heap in this process (run it with --expose-gc).
    (globalThis as { gc?: () => void }).gc?.();
    const before = await child.stats(true);

    const collector = new Collector(streams, child.clockOffset);
    const opening = performance.now();
    const readers = await openStreams(kind, url, streams, collector);
    // Every stream must be flowing before the window opens: this is what shows that the streams
    // really run concurrently (no connection limit queueing them). If some cannot start in time,
    // the window opens anyway and the figures say how many ran.
    await until(() => collector.started === streams, Math.max(30_000, streams * 30));
    const streamsStarted = collector.started;
    const openSeconds = (performance.now() - opening) / 1000;
    const opened = await child.stats(true); // the GC pause falls in the warm-up, not in the window
    await sleep(warmupSeconds * 1000);

    const start = await child.stats();
    const clientCpu = process.cpuUsage();
    const windowStart = performance.now();
    collector.recording = true;
    await sleep(seconds * 1000);
    collector.recording = false;
    const windowSeconds = (performance.now() - windowStart) / 1000;
    const clientCpuUsed = process.cpuUsage(clientCpu);
    const end = await child.stats();
    const active = await child.stats(true);
    // BENCH_DEBUG=1 prints the server's three readings (RSS, heap, V8 space sizes), for telling heap growth from headroom.
    if (process.env.BENCH_DEBUG) console.log(kind, JSON.stringify({ before, opened, active }));

    await closeStreams(child, kind, readers);

    const latencies = collector.latencies.subarray(0, collector.count).sort();
    const delivered = collector.count;
    return {
      name: kind === "raw" ? "hand-written node:http SSE + bare eventsource-parser" : "Durastream (memory store) + fetchWithStream",
      streamsStarted,
      openSeconds,
      streamsDelivering: collector.delivering.reduce((sum, flag) => sum + flag, 0),
      windowSeconds,
      chunksExpected: Math.round(streams * chunksPerSecond * windowSeconds),
      chunksDelivered: delivered,
      chunksProduced: end.produced[kind] - start.produced[kind],
      latencyP50: quantile(latencies, 0.5),
      latencyP99: quantile(latencies, 0.99),
      latencyMax: quantile(latencies, 1),
      cpuPerChunkMicros: delivered === 0 ? Number.NaN : (end.cpu - start.cpu) / delivered,
      serverCpuShare: (end.cpu - start.cpu) / 1000 / (end.now - start.now),
      clientCpuShare: (clientCpuUsed.user + clientCpuUsed.system) / 1e6 / windowSeconds,
      memoryPerStreamKB: (active.rss - before.rss) / 1024 / streams,
      memoryPerStreamOpenedKB: (opened.rss - before.rss) / 1024 / streams,
      heapPerStreamKB: (active.heapUsed - before.heapUsed) / 1024 / streams,
      heapPerStreamOpenedKB: (opened.heapUsed - before.heapUsed) / 1024 / streams,
      clockOffsetMs: child.clockOffset,
      errors: collector.errors,
    };
  } finally {
    await child.exit();
  }
}

/**
 * Many concurrent streams through the raw endpoint, then through the durable one, each in a fresh
 * server process; see the top of this file.
 */
export async function measureManyStreams(options: ManyStreamsOptions): Promise<ManyStreamsResult> {
  const resolved: Required<ManyStreamsOptions> = { warmupSeconds: 2, phases: "spread", rounds: 1, ...options };
  const raws: ManyStreamsVariant[] = [];
  const durables: ManyStreamsVariant[] = [];
  for (let round = 0; round < resolved.rounds; round += 1) {
    raws.push(await measureVariant("raw", resolved));
    durables.push(await measureVariant("durable", resolved));
  }
  const added = (field: "latencyP50" | "latencyP99") => raws.map((raw, round) => durables[round]![field] - raw[field]);
  const addedLatencyP99Rounds = added("latencyP99");
  return {
    options: resolved,
    raw: medianVariant(raws),
    durable: medianVariant(durables),
    addedLatencyP50: medianOf(added("latencyP50")),
    addedLatencyP99: medianOf(addedLatencyP99Rounds),
    addedLatencyP99Rounds,
  };
}

function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Every numeric figure of the rounds' variants replaced by its median (counts included). */
function medianVariant(rounds: readonly ManyStreamsVariant[]): ManyStreamsVariant {
  const first = rounds[0]!;
  const median: Record<string, unknown> = { ...first };
  for (const [key, value] of Object.entries(first)) {
    if (typeof value === "number") median[key] = medianOf(rounds.map((round) => round[key as keyof ManyStreamsVariant] as number));
  }
  return median as unknown as ManyStreamsVariant;
}

const fixed = (value: number, digits: number): string => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");
const signed = (value: number, digits: number): string => (value >= 0 ? "+" : "−") + fixed(Math.abs(value), digits);

/** Markdown table rows (header and separator included) for a `measureManyStreams` result. */
export function formatManyStreams(result: ManyStreamsResult): string[] {
  const { raw, durable } = result;
  const row = (variant: ManyStreamsVariant) => {
    const share = variant.chunksExpected === 0 ? 0 : (100 * variant.chunksDelivered) / variant.chunksExpected;
    const notes = [
      variant.streamsStarted < result.options.streams ? `${variant.streamsStarted} streams started` : "",
      variant.errors > 0 ? `${variant.errors} failed` : "",
    ].filter((note) => note !== "");
    return `| ${variant.name} | ${fixed(variant.latencyP50, 2)} ms | ${fixed(variant.latencyP99, 2)} ms | ${fixed(variant.cpuPerChunkMicros, 1)} µs | ${fixed(variant.memoryPerStreamKB, 1)} KB (${fixed(variant.memoryPerStreamOpenedKB, 1)} KB just opened; V8 heap in use ${fixed(variant.heapPerStreamKB, 1)} KB) | ${variant.chunksDelivered.toLocaleString("en")} / ${variant.chunksExpected.toLocaleString("en")} (${share.toFixed(1)} %${notes.length > 0 ? `; ${notes.join(", ")}` : ""}) |`;
  };
  return [
    "| endpoint and client | latency p50 | latency p99 | server CPU per chunk | server memory per stream (RSS) | chunks delivered / expected |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    row(raw),
    row(durable),
    `| added by Durastream | ${signed(result.addedLatencyP50, 2)} ms | ${signed(result.addedLatencyP99, 2)} ms${result.addedLatencyP99Rounds.length > 1 ? ` (rounds: ${result.addedLatencyP99Rounds.map((value) => signed(value, 1)).join(", ")})` : ""} | ${signed(durable.cpuPerChunkMicros - raw.cpuPerChunkMicros, 1)} µs | ${signed(durable.memoryPerStreamKB - raw.memoryPerStreamKB, 1)} KB (heap ${signed(durable.heapPerStreamKB - raw.heapPerStreamKB, 1)} KB) | |`,
  ];
}
