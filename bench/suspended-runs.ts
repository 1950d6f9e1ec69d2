// Memory after runs that suspended and finished: in a child `node --expose-gc`
// (bench/suspended-runs-child.ts), a warm-up of runs that suspend (a 1 h sleep, a 1 h retry
// backoff, an event wait, taking turns by batches of 100) and finish, the heap after GC (baseline),
// then `runs` more such runs, the heap after GC again. Time moves through manual timers, so the
// waits pass at once; finished runs are dropped from the store (retention 0), so the delta is what
// the engine keeps of runs that are over: near 0 when a suspended execution is garbage once dropped.
//
// Alone (after `pnpm build`): node --expose-gc --import tsx bench/suspended-runs.ts [runs, default 10000] [memory,sqlite]
import { spawn } from "node:child_process";
import { once } from "node:events";
import { pathToFileURL } from "node:url";

export interface SuspendedRunsResult {
  readonly store: "memory" | "sqlite";
  readonly runs: number;
  readonly warmUp: number;
  /** heapUsed after GC after the warm-up, bytes. */
  readonly baseline: number;
  /** heapUsed after GC after the runs, bytes. */
  readonly after: number;
  /** Seconds the runs took (not the warm-up). */
  readonly seconds: number;
}

/** One measurement in a fresh child process. */
export async function measureSuspendedRuns(runs: number, store: "memory" | "sqlite", warmUp = 1000): Promise<SuspendedRunsResult> {
  const script = new URL("./suspended-runs-child.ts", import.meta.url).pathname;
  const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", script, String(runs), String(warmUp), store], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, DURASTREAM_SECRET: process.env.DURASTREAM_SECRET ?? "bench-secret-not-for-production" },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text));
  child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  const [code] = (await once(child, "exit")) as [number | null];
  const line = stdout.trim().split("\n").at(-1) ?? "";
  if (code !== 0 || !line.startsWith("{")) throw new Error(`bench/suspended-runs-child.ts (${store}) exited with ${String(code)}: ${stderr.trim()}`);
  return JSON.parse(line) as SuspendedRunsResult;
}

const megabytes = (bytes: number): string => (bytes / 1024 / 1024).toFixed(2);
const signedMegabytes = (bytes: number): string => `${bytes < 0 ? "−" : "+"}${megabytes(Math.abs(bytes))}`;

/** Markdown table rows (header and separator included) for the results. */
export function formatSuspendedRuns(results: readonly SuspendedRunsResult[]): string[] {
  return [
    "| store | runs (each suspended once, then finished) | heap baseline | heap after | delta | per run |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...results.map((result) => {
      const delta = result.after - result.baseline;
      return `| ${result.store === "memory" ? "memory" : "SQLite file"} | ${result.runs.toLocaleString("en")} | ${megabytes(result.baseline)} MB | ${megabytes(result.after)} MB | ${signedMegabytes(delta)} MB | ${delta < 0 ? "−" : "+"}${Math.round(Math.abs(delta) / result.runs).toLocaleString("en")} bytes |`;
    }),
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const runs = Number(process.argv[2] ?? 10_000);
  const stores = (process.argv[3] ?? "memory,sqlite").split(",") as ("memory" | "sqlite")[];
  console.log(`Memory after ${runs.toLocaleString("en")} runs that suspended and finished (heap after GC, child process, after a warm-up of 1,000 runs)`);
  const results: SuspendedRunsResult[] = [];
  for (const store of stores) {
    const result = await measureSuspendedRuns(runs, store);
    console.log(`(${store}: the runs took ${result.seconds.toFixed(1)} s)`);
    results.push(result);
  }
  console.log(formatSuspendedRuns(results).join("\n"));
}
