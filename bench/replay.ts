import { fetchWithStream, resumeStream } from "@durastream/client";
import { median, startServers } from "./throughput.js";

export interface ReplayResult {
  readonly frames: number;
  /** Median frames per second over the rounds. */
  readonly framesPerSecond: number;
}

/**
 * Replay speed: a client that reconnects to a finished run reads its whole log (metadata, `frames`
 * data frames, commit, result) from the wait endpoint with `resumeStream`.
 */
export async function measureReplay(frames: number, rounds: number): Promise<ReplayResult> {
  const servers = await startServers();
  try {
    let resumeUrl = "";
    const first = await fetchWithStream(`http://127.0.0.1:${servers.ports.durable}/stream?chunks=${frames}`, {
      onMetadata: ({ resumeUrl: url }) => (resumeUrl = url ?? ""),
    });
    await first.text();
    const rates: number[] = [];
    for (let round = 0; round < rounds + 1; round += 1) {
      let received = 0;
      const started = performance.now();
      const response = await resumeStream(resumeUrl, { onData: () => (received += 1) });
      await response.text();
      const seconds = (performance.now() - started) / 1000;
      if (received !== frames) throw new Error(`replay: read ${received} data frames, expected ${frames}`);
      if (round > 0) rates.push((frames + 3) / seconds); // round 0 warms up
    }
    return { frames, framesPerSecond: median(rates) };
  } finally {
    await servers.stop();
  }
}

export interface RollbackLatency {
  readonly samples: number;
  readonly p50: number;
  readonly p99: number;
}

/** Time from a step throwing on the server to its rollback frame reaching `fetchWithStream`, in ms. */
export async function measureRollbackLatency(samples: number): Promise<RollbackLatency> {
  const servers = await startServers();
  try {
    const latencies: number[] = [];
    const response = await fetchWithStream(`http://127.0.0.1:${servers.ports.durable}/rollbacks?chunks=${samples}`, {
      onRollback: ({ error }) => latencies.push(performance.timeOrigin + performance.now() - Number(error.message)),
    });
    await response.text();
    if (latencies.length !== samples) throw new Error(`rollback latency: saw ${latencies.length} rollbacks, expected ${samples}`);
    latencies.sort((a, b) => a - b);
    const at = (quantile: number) => latencies[Math.min(latencies.length - 1, Math.floor(quantile * latencies.length))]!;
    return { samples, p50: at(0.5), p99: at(0.99) };
  } finally {
    await servers.stop();
  }
}
