// Fan-out: one run streams chunks at a steady rate (default 50 chunks/s for 4 s) to 1, 100 and
// 1,000 concurrent tailers over loopback HTTP. The durable server (bench/fanout-server.ts, memory
// store unless BENCH_FANOUT_STORE=sqlite) runs in a child process, a fresh one per tailer count;
// the tailers run here, each a bare node:http GET of the run's resume URL (the wait endpoint, with
// `Accept: text/event-stream`) read by eventsource-parser.
//
// Per tailer count: a warm-up run with a few tailers, then `rounds` measured runs (every figure is
// their median). A run is started by a POST whose own SSE connection gives the resume URL in the
// metadata frame (it is read to the end too, as the client that started the run would, and not
// counted); every tailer connects and receives its metadata frame, and only then does the server
// start the chunks, on a fixed schedule. Each chunk's data is the moment the server pushed it; a
// tailer's lag for a chunk is its arrival here minus that moment (both `performance.timeOrigin +
// performance.now()`, corrected by the clock offset between the two processes measured over
// loopback). The server's CPU (`process.cpuUsage()` inside it) is read when the chunks start and
// once every tailer has the last chunk. How late the server's timer pushed the chunks against
// their schedule (its event loop busy) is reported apart; it is not in the lag.
//
// Alone (after `pnpm build`): node --expose-gc --import tsx bench/fanout.ts [tailer counts, default 1,100,1000]
// BENCH_FANOUT_RATE (chunks/s, default 50), BENCH_FANOUT_SECONDS (default 4), BENCH_FANOUT_ROUNDS
// (default 3), BENCH_FANOUT_STORE (memory | sqlite), BENCH_DEBUG=1 (every figure),
// BENCH_PROFILE=dir (CPU profile of the server).
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import os from "node:os";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { createParser, type EventSourceMessage } from "eventsource-parser";

export interface FanoutOptions {
  /** Tailer counts, one measurement each. */
  readonly tailers: readonly number[];
  /** Chunks per second the run streams. Default 50. */
  readonly chunksPerSecond?: number;
  /** Seconds the run streams. Default 4. */
  readonly seconds?: number;
  /** Runs measured per tailer count (in the same server process); every figure is their median. Default 3. */
  readonly rounds?: number;
  /** "memory" (default) or "sqlite". */
  readonly store?: "memory" | "sqlite";
}

export interface FanoutRow {
  readonly tailers: number;
  /** Tailers that received the metadata frame before the chunks started (the fewest of the rounds in a result). */
  readonly connected: number;
  /** Seconds from the first tailer's request until every tailer had its metadata frame. */
  readonly connectSeconds: number;
  /** chunks × tailers (summed over the rounds in a result). */
  readonly expected: number;
  /** Chunks the tailers received (summed over the rounds in a result). */
  readonly delivered: number;
  /** Lag of every delivery (chunk × tailer), server push → arrival at the tailer, ms. */
  readonly lagP50: number;
  readonly lagP99: number;
  readonly lagMax: number;
  /** The highest p99 lag of a single tailer, ms. */
  readonly worstTailerP99: number;
  /** Server CPU from the first chunk until every tailer had the last one, ms per second (1000 = one core). */
  readonly serverCpuMsPerSecond: number;
  /** Server CPU per delivery (chunk × tailer), µs. */
  readonly serverCpuPerDeliveryMicros: number;
  /** CPU of this (tailer) process over the same window, ms per second: near 1000 means the tailers, not the server, set the lag. */
  readonly clientCpuMsPerSecond: number;
  /** Length of that window (from the first chunk until every tailer had the last one), s. */
  readonly windowSeconds: number;
  /** From the server's go to its push of the last chunk, s. */
  readonly pushSeconds: number;
  /** How late the server pushed the chunks against their fixed schedule (its event loop busy), p99 and max, ms; not part of the lag. */
  readonly pushLatenessP99: number;
  readonly pushLatenessMax: number;
  /** From the end of the window until every tailer had the result frame, s. */
  readonly resultSeconds: number;
  /** Server clock minus bench clock, ms; already subtracted from the lags. */
  readonly clockOffsetMs: number;
  /** Tailers that failed (HTTP or network errors, or no result frame; summed over the rounds in a result). */
  readonly errors: number;
}

export interface FanoutResult {
  readonly options: Required<FanoutOptions>;
  readonly rows: readonly FanoutRow[];
}

const now = (): number => performance.timeOrigin + performance.now();

interface ServerStats {
  readonly now: number;
  readonly cpu: number;
  readonly lateness: { readonly p99: number; readonly max: number; readonly pushed: number };
}

interface Child {
  readonly ports: { readonly durable: number; readonly control: number };
  /** Server clock minus bench clock, ms. */
  readonly clockOffset: number;
  stats(): Promise<ServerStats>;
  go(rate: number, seconds: number): Promise<{ now: number; cpu: number; chunks: number }>;
  exit(): Promise<void>;
}

async function startChild(store: "memory" | "sqlite"): Promise<Child> {
  const profile = process.env.BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const script = new URL("./fanout-server.ts", import.meta.url).pathname;
  const child: ChildProcess = spawn(
    process.execPath,
    [...profile, ...(process.env.BENCH_SERVER_FLAGS?.split(" ").filter(Boolean) ?? []), "--import", "tsx", script],
    {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, BENCH_FANOUT_STORE: store, DURASTREAM_SECRET: process.env.DURASTREAM_SECRET ?? "bench-secret-not-for-production" },
    },
  );
  const exited = once(child, "exit");
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await Promise.race([
    once(lines, "line"),
    exited.then(([code]) => Promise.reject(new Error(`bench/fanout-server.ts exited with ${String(code)} before listening`))),
  ])) as [string];
  const ports = JSON.parse(line) as Child["ports"];
  const control = `http://127.0.0.1:${ports.control}`;
  const call = async <T>(path: string, method = "GET"): Promise<T> => {
    const response = await fetch(`${control}${path}`, { method });
    if (!response.ok) throw new Error(`fan-out server ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  };
  // Clock offset from the round trip with the smallest delay: server time vs. the middle of the round trip.
  let best = { rtt: Number.POSITIVE_INFINITY, offset: 0 };
  for (let ping = 0; ping < 30; ping += 1) {
    const sent = now();
    const { now: serverNow } = await call<{ now: number }>("/clock");
    const received = now();
    if (received - sent < best.rtt) best = { rtt: received - sent, offset: serverNow - (sent + received) / 2 };
  }
  return {
    ports,
    clockOffset: best.offset,
    stats: () => call("/stats"),
    go: (rate, seconds) => call(`/go?rate=${rate}&seconds=${seconds}`, "POST"),
    async exit() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGINT"); // the server exits cleanly on SIGINT, so a CPU profile gets written
      await exited;
    },
  };
}

// One agent for every connection: no socket limit, no keep-alive (each tailer holds its own socket).
const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });

/**
 * A bare SSE reader: node:http + eventsource-parser. `done` resolves when the response ends and
 * rejects on a non-200 status or a network error.
 */
function readSse(url: string, method: "GET" | "POST", onEvent: (event: EventSourceMessage) => void): { done: Promise<void>; abort: () => void } {
  let request: http.ClientRequest | undefined;
  const done = new Promise<void>((resolve, reject) => {
    request = http.request(url, { method, agent, headers: { accept: "text/event-stream" } }, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        reject(new Error(`${method} ${url}: HTTP ${response.statusCode}`));
        return;
      }
      const parser = createParser({ onEvent });
      response.setEncoding("utf8");
      response.on("data", (text: string) => parser.feed(text));
      response.on("end", resolve);
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end();
  });
  return { done, abort: () => request?.destroy() };
}

interface Tailer {
  connected: boolean;
  finished: boolean;
  failed: boolean;
  readonly latencies: number[];
  abort: () => void;
  done: Promise<void>;
}

/** Waits until `condition` holds or `timeoutMs` passes; resolves with whether it held. */
async function until(condition: () => boolean, timeoutMs: number, pollMs = 10): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await sleep(pollMs);
  }
  return true;
}

/** The value at quantile `q` of sorted values (nearest rank). */
function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** One run with `count` tailers: starts it, connects them, streams, and returns what they saw. */
async function measureRun(child: Child, count: number, rate: number, seconds: number): Promise<FanoutRow> {
  // The run, started by its own SSE request; its metadata frame carries the resume URL.
  let resumeUrl: string | undefined;
  const origin = readSse(`http://127.0.0.1:${child.ports.durable}/fanout`, "POST", (event) => {
    if (event.event === "metadata" && resumeUrl === undefined) resumeUrl = (JSON.parse(event.data) as { resumeUrl: string | null }).resumeUrl ?? undefined;
  });
  origin.done.catch(() => {});
  if (!(await until(() => resumeUrl !== undefined, 10_000))) throw new Error("fan-out: the run's metadata frame (with its resume URL) did not arrive");

  const offset = child.clockOffset;
  const tailers: Tailer[] = [];
  let lastPushed = 0;
  const opening = performance.now();
  for (let index = 0; index < count; index += 1) {
    const tailer: Tailer = { connected: false, finished: false, failed: false, latencies: [], abort: () => {}, done: Promise.resolve() };
    const reader = readSse(resumeUrl!, "GET", (event) => {
      if (event.event === "data") {
        const pushed = Number((JSON.parse(event.data) as { data: string }).data);
        tailer.latencies.push(now() - (pushed - offset));
        if (pushed > lastPushed) lastPushed = pushed;
      } else if (event.event === "metadata") tailer.connected = true;
      else if (event.event === "result") tailer.finished = true;
    });
    tailer.abort = reader.abort;
    tailer.done = reader.done.catch(() => void (tailer.failed = true));
    tailers.push(tailer);
    if (index % 50 === 49) await sleep(5); // a few at a time, so the listen backlog is not flooded
  }
  await until(() => tailers.every((tailer) => tailer.connected || tailer.failed), Math.max(30_000, count * 30), 20);
  const connectSeconds = (performance.now() - opening) / 1000;
  const connected = tailers.filter((tailer) => tailer.connected).length;

  const clientCpu = process.cpuUsage();
  const start = await child.go(rate, seconds);
  const windowStart = performance.now();
  // The window ends once every tailer has every chunk; the result frame (step commit, run end) comes after.
  const allChunks = () => tailers.every((tailer) => tailer.latencies.length >= start.chunks || tailer.finished || tailer.failed);
  await until(allChunks, seconds * 1000 + Math.max(30_000, count * 30), 5);
  const end = await child.stats();
  const windowSeconds = (performance.now() - windowStart) / 1000;
  const clientUsed = process.cpuUsage(clientCpu);
  await until(() => tailers.every((tailer) => tailer.finished || tailer.failed), Math.max(30_000, count * 30), 5);
  const resultSeconds = (performance.now() - windowStart) / 1000 - windowSeconds;

  for (const tailer of tailers) if (!tailer.finished) tailer.abort();
  await Promise.all(tailers.map((tailer) => tailer.done));
  origin.abort();

  const delivered = tailers.reduce((sum, tailer) => sum + tailer.latencies.length, 0);
  const all = new Float64Array(delivered);
  let filled = 0;
  let worstTailerP99 = Number.NaN;
  for (const tailer of tailers) {
    all.set(tailer.latencies, filled);
    filled += tailer.latencies.length;
    const own = Float64Array.from(tailer.latencies).sort();
    if (own.length > 0 && !(quantile(own, 0.99) <= worstTailerP99)) worstTailerP99 = quantile(own, 0.99);
  }
  all.sort();
  const serverCpuMs = (end.cpu - start.cpu) / 1000;
  return {
    tailers: count,
    connected,
    connectSeconds,
    expected: start.chunks * count,
    delivered,
    lagP50: quantile(all, 0.5),
    lagP99: quantile(all, 0.99),
    lagMax: quantile(all, 1),
    worstTailerP99,
    serverCpuMsPerSecond: serverCpuMs / ((end.now - start.now) / 1000),
    serverCpuPerDeliveryMicros: delivered === 0 ? Number.NaN : (serverCpuMs * 1000) / delivered,
    clientCpuMsPerSecond: (clientUsed.user + clientUsed.system) / 1000 / windowSeconds,
    windowSeconds,
    pushSeconds: (lastPushed - start.now) / 1000,
    pushLatenessP99: end.lateness.p99,
    pushLatenessMax: end.lateness.max,
    resultSeconds,
    clockOffsetMs: offset,
    errors: tailers.filter((tailer) => tailer.failed || !tailer.finished).length,
  };
}

/** Fan-out at each tailer count, a fresh server process each; see the top of this file. */
export async function measureFanout(options: FanoutOptions): Promise<FanoutResult> {
  const resolved: Required<FanoutOptions> = { chunksPerSecond: 50, seconds: 4, rounds: 3, store: "memory", ...options };
  const rows: FanoutRow[] = [];
  for (const count of resolved.tailers) {
    const child = await startChild(resolved.store);
    try {
      // Warm-up: a short run with a few tailers, so the code is compiled before the measured runs.
      await measureRun(child, Math.min(count, 20), resolved.chunksPerSecond, 1);
      const rounds: FanoutRow[] = [];
      for (let round = 0; round < resolved.rounds; round += 1) {
        await sleep(200);
        (globalThis as { gc?: () => void }).gc?.(); // the tailers start from a collected heap (run with --expose-gc)
        rounds.push(await measureRun(child, count, resolved.chunksPerSecond, resolved.seconds));
      }
      rows.push(medianRow(rounds));
    } finally {
      await child.exit();
    }
  }
  return { options: resolved, rows };
}

function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Every figure of the rounds replaced by its median; deliveries and failures summed, the fewest tailers connected. */
function medianRow(rounds: readonly FanoutRow[]): FanoutRow {
  const median: Record<string, number> = {};
  for (const key of Object.keys(rounds[0]!) as (keyof FanoutRow)[]) median[key] = medianOf(rounds.map((round) => round[key]));
  median.errors = rounds.reduce((sum, round) => sum + round.errors, 0);
  median.connected = Math.min(...rounds.map((round) => round.connected));
  median.delivered = rounds.reduce((sum, round) => sum + round.delivered, 0);
  median.expected = rounds.reduce((sum, round) => sum + round.expected, 0);
  return median as unknown as FanoutRow;
}

const fixed = (value: number, digits: number): string => (Number.isFinite(value) ? value.toFixed(digits) : "n/a");

/** Markdown table rows (header and separator included) for a `measureFanout` result. */
export function formatFanout(result: FanoutResult): string[] {
  return [
    "| tailers | lag p50 | lag p99 | worst tailer's p99 | lag max | server CPU | server CPU per delivery | server timer late, p99 | chunks delivered / expected |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...result.rows.map((row) => {
      const notes = [row.connected < row.tailers ? `${row.connected} connected` : "", row.errors > 0 ? `${row.errors} failed` : ""].filter(
        (note) => note !== "",
      );
      const share = row.expected === 0 ? 0 : (100 * row.delivered) / row.expected;
      return `| ${row.tailers.toLocaleString("en")} | ${fixed(row.lagP50, 2)} ms | ${fixed(row.lagP99, 2)} ms | ${fixed(row.worstTailerP99, 2)} ms | ${fixed(row.lagMax, 2)} ms | ${fixed(row.serverCpuMsPerSecond, 1)} ms/s (${fixed(row.serverCpuMsPerSecond / 10, 1)} % of a core) | ${fixed(row.serverCpuPerDeliveryMicros, 1)} µs | ${fixed(row.pushLatenessP99, 1)} ms | ${row.delivered.toLocaleString("en")} / ${row.expected.toLocaleString("en")} (${share.toFixed(1)} %${notes.length > 0 ? `; ${notes.join(", ")}` : ""}) |`;
    }),
  ];
}

// Alone: node --expose-gc --import tsx bench/fanout.ts [1,100,1000]
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const tailers = (process.argv[2] ?? "1,100,1000").split(",").map(Number);
  const store = process.env.BENCH_FANOUT_STORE === "sqlite" ? "sqlite" : "memory";
  const chunksPerSecond = Number(process.env.BENCH_FANOUT_RATE ?? 50);
  const seconds = Number(process.env.BENCH_FANOUT_SECONDS ?? 4);
  const rounds = Number(process.env.BENCH_FANOUT_ROUNDS ?? 3);
  console.log(
    `Fan-out: one run, ${chunksPerSecond} chunks/s for ${seconds} s, to ${tailers.join(", ")} tailers on the wait endpoint (${store} store), over loopback; median of ${rounds} runs`,
  );
  const loadBefore = os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(", ");
  const started = performance.now();
  const result = await measureFanout({ tailers, chunksPerSecond, seconds, rounds, store });
  console.log(formatFanout(result).join("\n"));
  if (process.env.BENCH_DEBUG) console.log(JSON.stringify(result.rows, null, 2));
  const load = (): string =>
    os
      .loadavg()
      .map((value) => value.toFixed(2))
      .join(", ");
  console.log(
    `(${((performance.now() - started) / 1000).toFixed(1)} s; load average ${load()} at the end, ${loadBefore} at the start, ${os.cpus().length} cores)`,
  );
}
