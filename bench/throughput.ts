import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fetchWithStream } from "@durastream/client";
import { createParser } from "eventsource-parser";

export interface ThroughputResult {
  readonly name: string;
  /** Median frames per second over the rounds. */
  readonly framesPerSecond: number;
  readonly rounds: readonly number[];
}

/** Reads a stream with a bare eventsource-parser loop, the cheapest possible SSE client. */
async function readRaw(url: string): Promise<number> {
  let frames = 0;
  const parser = createParser({ onEvent: () => (frames += 1) });
  const response = await fetch(url, { headers: { accept: "text/event-stream" } });
  const decoder = new TextDecoder();
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  return frames;
}

/** Reads a durable endpoint with fetchWithStream, counting every callback. */
async function readDurable(url: string): Promise<number> {
  let frames = 0;
  const response = await fetchWithStream(url, {
    onMetadata: () => (frames += 1),
    onData: () => (frames += 1),
    onCommit: () => (frames += 1),
  });
  await response.text();
  return frames + 1; // the result frame
}

/** The median of a list of numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * Single-stream throughput: `chunks` small chunks through one stream, the raw endpoint and the
 * durable endpoint measured alternately in the same run, `rounds` times each.
 */
export async function measureThroughput(chunks: number, rounds: number, options: { redis?: boolean } = {}): Promise<ThroughputResult[]> {
  const servers = await startServers(options.redis === true);
  try {
    const variants = [
      { name: "hand-written node:http SSE + bare eventsource-parser", url: `http://127.0.0.1:${servers.ports.raw}/?chunks=${chunks}`, read: readRaw },
      { name: "Durastream (memory store) + fetchWithStream", url: `http://127.0.0.1:${servers.ports.durable}/stream?chunks=${chunks}`, read: readDurable },
      {
        name: "Durastream (SQLite file store) + fetchWithStream",
        url: `http://127.0.0.1:${servers.ports.durableSqlite}/stream?chunks=${chunks}`,
        read: readDurable,
      },
    ];
    if (servers.ports.durableRedis !== undefined && servers.ports.resumable !== undefined) {
      variants.push(
        {
          name: "Durastream (Redis store) + fetchWithStream",
          url: `http://127.0.0.1:${servers.ports.durableRedis}/stream?chunks=${chunks}`,
          read: readDurable,
        },
        {
          name: "Vercel resumable-stream (same Redis) + bare eventsource-parser",
          url: `http://127.0.0.1:${servers.ports.resumable}/?chunks=${chunks}`,
          read: readRaw,
        },
      );
    }
    const timings = variants.map(() => [] as number[]);
    // Warm-up, then alternate so both see the same machine state.
    for (const variant of variants) await variant.read(variant.url.replace(`chunks=${chunks}`, "chunks=2000"));
    for (let round = 0; round < rounds; round += 1) {
      for (const [index, variant] of variants.entries()) {
        const started = performance.now();
        const frames = await variant.read(variant.url);
        const seconds = (performance.now() - started) / 1000;
        if (frames !== chunks + 3) throw new Error(`${variant.name}: read ${frames} frames, expected ${chunks + 3}`);
        timings[index]!.push(frames / seconds);
      }
    }
    return variants.map((variant, index) => ({ name: variant.name, framesPerSecond: median(timings[index]!), rounds: timings[index]! }));
  } finally {
    await servers.stop();
  }
}

/** Starts bench/servers.ts in a child process; resolves with its ports and a stop function. */
export interface ServerPorts {
  readonly raw: number;
  readonly durable: number;
  readonly durableSqlite: number;
  readonly resumable?: number;
  readonly durableRedis?: number;
}

export async function startServers(redis = false): Promise<{ ports: ServerPorts; stop: () => Promise<void> }> {
  // BENCH_PROFILE=dir writes a V8 CPU profile of the servers to dir (open it in Chrome DevTools).
  const profile = process.env.BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const serverScript = new URL("./servers.ts", import.meta.url).pathname;
  const child = spawn(process.execPath, [...profile, "--import", "tsx", serverScript], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, DURASTREAM_SECRET: process.env.DURASTREAM_SECRET ?? "bench-secret-not-for-production", BENCH_REDIS: redis ? "1" : "0" },
  });
  const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
  return {
    ports: JSON.parse(line) as ServerPorts,
    async stop() {
      child.kill("SIGINT"); // servers.ts exits cleanly on SIGINT, so a CPU profile gets written
      await once(child, "exit");
    },
  };
}
