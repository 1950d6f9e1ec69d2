// Memory stays bounded when a source is faster than the store, and when a handler returns an
// endless body. Measured in a child `node --expose-gc` (backpressure-memory.fixture.ts): the heap
// after GC (JS heap + ArrayBuffers) sampled while the runs stream, against a baseline taken after a
// warm-up. The store is slowed by turns of the event loop, never by timers.
import { spawn } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const packageDirectory = dirname(dirname(fileURLToPath(import.meta.url)));
const MiB = 1024 * 1024;

interface Measured {
  scenario: string;
  runs: number;
  count: number;
  items: number;
  bodyBytes: number;
  bodyCancelled: boolean;
  samples: number;
  baselineMiB: number;
  peakMiB: number;
  grewMiB: number;
  result: { status: string; body: string };
}

/** Runs the fixture in a child process and parses its JSON line. */
async function measure(scenario: "pipe" | "push" | "runs" | "body"): Promise<Measured> {
  const child = spawn(process.execPath, ["--expose-gc", "--conditions=@durastream/source", "--import", "tsx", "src/backpressure-memory.fixture.ts", scenario], {
    cwd: packageDirectory,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (text: string) => (stdout += text));
  child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  expect(code, stderr).toBe(0);
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as Measured;
}

describe("memory under backpressure (child process, heap after GC)", () => {
  it.concurrent("an always-ready pipe into a slow store: the heap stays within the bound, not the stream's size", async () => {
    const measured = await measure("pipe");
    expect(measured.result).toEqual({ status: "succeeded", body: '{"piped":16000000}' });
    expect(measured.samples).toBeGreaterThanOrEqual(20);
    // 1,000,000 frames; without backpressure the unstored backlog grew by ~130 MB here. What is
    // left: the 8 MiB bound (~10 MB of frames) plus the piped text the pipe keeps to resolve with
    // (16 M characters, ~18 MB as joined strings).
    expect(measured.grewMiB, JSON.stringify(measured)).toBeLessThan(16 + 3 * 8);
  }, 120_000);

  it.concurrent("a tight push loop with await stream.ready: the heap stays within the bound", async () => {
    const measured = await measure("push");
    expect(measured.result).toEqual({ status: "succeeded", body: '{"pushed":200000}' });
    // 200 MB pushed; without the bound it was all queued at once (~260 MB).
    expect(measured.grewMiB, JSON.stringify(measured)).toBeLessThan(3 * 8);
  }, 120_000);

  it.concurrent("50 concurrent runs piping into a slow store: each run is bounded, so the total is at most runs × bound", async () => {
    const measured = await measure("runs");
    expect(measured.runs).toBe(50);
    expect(measured.result).toEqual({ status: "succeeded", body: '{"piped":320000}' });
    // maxBufferedBytes 256 KiB × 50 runs = 12.5 MiB, plus the 16 M characters the pipes keep;
    // without backpressure ~140 MB.
    expect(measured.grewMiB, JSON.stringify(measured)).toBeLessThan(16 + 3 * 50 * 0.25);
  }, 120_000);

  it.concurrent("a handler returning an endless body: reading stops at maxResponseBytes, the body is cancelled, the run fails", async () => {
    const measured = await measure("body");
    expect(measured.result.status).toBe("failed");
    expect(measured.result.body).toMatch(/larger than limits\.maxResponseBytes \(16777216 bytes\).*stream\.pipe/);
    expect(measured.bodyCancelled).toBe(true);
    expect(measured.bodyBytes).toBeLessThanOrEqual(16 * MiB + 128 * 1024);
    // Read whole, the body grew the heap until the fixture's 256 MiB runaway guard stopped it.
    expect(measured.grewMiB, JSON.stringify(measured)).toBeLessThan(3 * 16);
  }, 120_000);
});
