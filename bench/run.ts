// `pnpm bench`: runs every benchmark, prints a table and writes bench/results.md.
import { writeFile } from "node:fs/promises";
import os from "node:os";
import { renderChart } from "./chart.js";
import { formatChat, measureChat } from "./chat.js";
import { formatFanout, measureFanout } from "./fanout.js";
import { formatManyStreams, measureManyStreams } from "./many-streams.js";
import { measureClientParse } from "./client-parse.js";
import { measureStoreThroughput } from "./client-state.js";
import { measureHookRenders } from "./hook-renders.js";
import { measureReplay, measureRollbackLatency } from "./replay.js";
import { formatSuspendedRuns, measureSuspendedRuns, type SuspendedRunsResult } from "./suspended-runs.js";
import { measureThroughput } from "./throughput.js";

async function redisAnswers(): Promise<boolean> {
  const { createClient } = await import("redis");
  const client = createClient({ url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379", socket: { connectTimeout: 1000, reconnectStrategy: false } });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.ping();
    await client.quit();
    return true;
  } catch {
    return false;
  }
}

const CHUNKS = Number(process.env.BENCH_CHUNKS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? "unknown CPU"}), Node ${process.version}, ${os.platform()} ${os.arch()}`;

// Many streams first, while this process (the clients) has run nothing else yet.
const MANY_ROUNDS = Number(process.env.BENCH_MANY_ROUNDS ?? 5);
console.log(`Many streams: 1,000 concurrent runs, 20 chunks/s each, 10 s, over loopback; phases spread over each 50 ms, median of ${MANY_ROUNDS} rounds`);
const many = await measureManyStreams({ streams: 1000, chunksPerSecond: 20, seconds: 10, phases: "spread", rounds: MANY_ROUNDS });
const manyRows = formatManyStreams(many);
console.log(manyRows.join("\n"));
console.log("\nMany streams, every stream's chunk on the same tick (bursts of 1,000 chunks), one round");
const burst = await measureManyStreams({ streams: 1000, chunksPerSecond: 20, seconds: 10, phases: "together", rounds: 1 });
const burstRows = formatManyStreams(burst);
console.log(burstRows.join("\n"));

// Fan-out next: its tailers run in this process too.
const FANOUT_TAILERS = [1, 100, 1000];
const FANOUT_RATE = 50;
const FANOUT_SECONDS = 4;
const FANOUT_ROUNDS = 3;
console.log(
  `\nFan-out: one run, ${FANOUT_RATE} chunks/s for ${FANOUT_SECONDS} s, to ${FANOUT_TAILERS.join(", ")} tailers on the wait endpoint (memory store), over loopback; median of ${FANOUT_ROUNDS} runs`,
);
const fanoutLoad = os
  .loadavg()
  .map((value) => value.toFixed(2))
  .join(", "); // lag is the first figure a busy machine spoils
const fanout = await measureFanout({ tailers: FANOUT_TAILERS, chunksPerSecond: FANOUT_RATE, seconds: FANOUT_SECONDS, rounds: FANOUT_ROUNDS });
const fanoutRows = formatFanout(fanout);
console.log(fanoutRows.join("\n"));

console.log(`\nSingle-stream throughput: ${CHUNKS.toLocaleString("en")} chunks, median of ${ROUNDS} rounds, over loopback`);
const redis = await redisAnswers();
if (!redis) console.log("(Redis does not answer at REDIS_URL or 127.0.0.1:6379: the Redis rows are left out)");
const results = await measureThroughput(CHUNKS, ROUNDS, { redis });
const raw = results[0]!;
const rows = [
  ["benchmark", "frames/s", "vs. raw"],
  ...results.map((result) => [result.name, Math.round(result.framesPerSecond).toLocaleString("en"), (result.framesPerSecond / raw.framesPerSecond).toFixed(2)]),
];
const byName = (prefix: string) => results.find((result) => result.name.startsWith(prefix));
const redisStore = byName("Durastream (Redis");
const resumable = byName("Vercel resumable-stream");
if (redisStore !== undefined && resumable !== undefined) {
  rows.push(["Durastream (Redis store) vs. resumable-stream", "", (redisStore.framesPerSecond / resumable.framesPerSecond).toFixed(2)]);
}
const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
for (const row of rows) console.log(row.map((cell, column) => cell.padEnd(widths[column]!)).join("  "));
console.log(`machine: ${machine}`);

const CHAT_TOKENS = 1000;
console.log(
  `\nChat answer: ${CHAT_TOKENS.toLocaleString("en")} tokens of the mock model (no delay), durableChat + uiMessageStreamHandler vs. streamText + toUIMessageStream, over loopback; median of ${ROUNDS} rounds (3 paced)`,
);
// Paced too (the mock's 1 ms setTimeout before each token, ~1.3 s an answer): each token in its own turn of the event loop, as from a provider.
const chat = [await measureChat(CHAT_TOKENS, ROUNDS), await measureChat(CHAT_TOKENS, 3, { tokenDelayMs: 1, warmUps: 1 })];
const chatRows = formatChat(chat);
console.log(chatRows.join("\n"));

const REPLAY_FRAMES = 10_000;
console.log(`\nReplay: a reconnecting client reads a finished run's ${REPLAY_FRAMES.toLocaleString("en")}-frame log from the wait endpoint`);
const replay = await measureReplay(REPLAY_FRAMES, ROUNDS);
console.log(`replay: ${Math.round(replay.framesPerSecond).toLocaleString("en")} frames/s (median of ${ROUNDS})`);
const rollback = await measureRollbackLatency(200);
console.log(`step failure → rollback frame at the client: p50 ${rollback.p50.toFixed(2)} ms, p99 ${rollback.p99.toFixed(2)} ms (${rollback.samples} failures)`);

// The SQLite store syncs every write to disk (synchronous=FULL): 10,000 such runs take minutes, so it is opt-in.
const SUSPENDED_RUNS = 10_000;
const suspendedStores: ("memory" | "sqlite")[] = process.env.BENCH_SUSPENDED_SQLITE === "1" ? ["memory", "sqlite"] : ["memory"];
console.log(
  `\nMemory after ${SUSPENDED_RUNS.toLocaleString("en")} runs that suspended and finished (heap after GC in a child process, after a warm-up of 1,000 runs)`,
);
const suspended: SuspendedRunsResult[] = [];
for (const store of suspendedStores) suspended.push(await measureSuspendedRuns(SUSPENDED_RUNS, store));
const suspendedRows = formatSuspendedRuns(suspended);
console.log(suspendedRows.join("\n"));

const parse = await measureClientParse(100_000, ROUNDS);
console.log(
  `\nClient parse rate (in memory, 100,000 frames): bare eventsource-parser loop ${Math.round(parse.bareFramesPerSecond).toLocaleString("en")} frames/s without JSON, ${Math.round(parse.bareJsonFramesPerSecond).toLocaleString("en")} frames/s with JSON.parse; fetchWithStream ${Math.round(parse.fetchWithStreamFramesPerSecond).toLocaleString("en")} frames/s (${parse.ratio.toFixed(2)} of the loop without JSON, ${parse.ratioJson.toFixed(2)} with JSON.parse)`,
);

const STORE_CHUNKS = 100_000;
const storeRates: number[] = [];
for (let round = 0; round < ROUNDS; round += 1) storeRates.push((await measureStoreThroughput(STORE_CHUNKS)).chunksPerSecond);
const storeRate = [...storeRates].sort((a, b) => a - b)[Math.floor(storeRates.length / 2)]!;
console.log(
  `\nClient state: ${Math.round(storeRate).toLocaleString("en")} chunks/s through createDurableStream with a subscriber (${STORE_CHUNKS.toLocaleString("en")} chunks, median of ${ROUNDS})`,
);
const throttled = await measureHookRenders(50, 3);
const unthrottled = await measureHookRenders(0, 3);
for (const figure of [throttled, unthrottled]) {
  console.log(
    `useDurableStream, throttleMs ${figure.throttleMs}: ${figure.rendersPerSecond.toFixed(1)} renders/s under ${Math.round(figure.chunksPerSecond)} chunks/s`,
  );
}

const markdown = [
  "# Benchmark results",
  "",
  `Measured by \`pnpm bench\` on ${new Date().toISOString().slice(0, 10)}; machine: ${machine}.`,
  "Every figure is measured in the same run as its baseline; servers run in a child process, clients in the bench process, over loopback. The Durastream packages run as built (`dist/`), as an application gets them from npm.",
  "",
  `## Single-stream throughput (${CHUNKS.toLocaleString("en")} small chunks, median of ${ROUNDS})`,
  "",
  "| endpoint and client | frames/s | vs. raw |",
  "| --- | ---: | ---: |",
  ...rows.slice(1).map((row) => `| ${row.join(" | ")} |`),
  "",
  "The raw row is a hand-written endpoint that writes every frame with its own `write` (chunked encoding around each), read the way a hand-rolled client reads SSE: `TextDecoder` in stream mode feeding `eventsource-parser`. Durastream can pass it: its server writes the frames a turn of the event loop produced as one piece, and `fetchWithStream` decodes whole UTF-8 chunks (without stream mode, several times faster on Node) and parses only each chunk's own JSON.",
  "",
  `## Chat answer (${CHAT_TOKENS.toLocaleString("en")} tokens of the mock model, median of ${ROUNDS} rounds without delay, 3 paced)`,
  "",
  "The same mock model (`createMockModel`, one text delta per word; without delay, then paced by its `tokenDelayMs: 1`) answers one chat request: with the AI SDK alone (`streamText` + `toUIMessageStream`, piped to a `node:http` response), and with `durableChat` in a durable endpoint (memory store) behind `uiMessageStreamHandler`, the route the stock `useChat` transport reads. Both servers run in a child process; the client is the same bare one for both (fetch, `eventsource-parser`, `JSON.parse` of each chunk), timestamping each `text-delta` from the request start. Server CPU is `process.cpuUsage()` in the server process around each request. The rounds alternate the two, after a warm-up.",
  "",
  ...chatRows,
  "",
  "## Durable execution",
  "",
  "| measure | value |",
  "| --- | ---: |",
  `| replay of a ${REPLAY_FRAMES.toLocaleString("en")}-frame log to a reconnecting client (resumeStream, median of ${ROUNDS}) | ${Math.round(replay.framesPerSecond).toLocaleString("en")} frames/s |`,
  `| step failure → rollback frame at the client, p50 (${rollback.samples} failures) | ${rollback.p50.toFixed(2)} ms |`,
  `| step failure → rollback frame at the client, p99 | ${rollback.p99.toFixed(2)} ms |`,
  "",
  `### Memory after ${SUSPENDED_RUNS.toLocaleString("en")} runs that suspended and finished`,
  "",
  "Each run suspends once (a 1 h sleep, a 1 h retry backoff or an event wait, by turns, the time passing on manual timers) and then finishes; the V8 heap in use after GC, in a child process, after a warm-up of 1,000 such runs and after the runs, finished runs dropped from the store (retention 0): what the engine keeps of runs that are over.",
  "",
  ...suspendedRows,
  "",
  "## Many streams (1,000 concurrent runs × 20 chunks/s × 10 s, over loopback)",
  "",
  `The streams' chunks are spread evenly over each 50 ms period, as independent model calls are; every figure is the median of ${MANY_ROUNDS} rounds (a fresh server process per endpoint and round), added latency the median of each round's difference.`,
  "",
  ...manyRows,
  "",
  "The worst case, every stream's chunk on the same tick (bursts of 1,000 chunks every 50 ms; a chunk's latency is mostly its place in the burst), one round:",
  "",
  ...burstRows,
  "",
  `## Fan-out (one run, ${FANOUT_RATE} chunks/s × ${FANOUT_SECONDS} s, to ${FANOUT_TAILERS.map((count) => count.toLocaleString("en")).join(" / ")} tailers, over loopback)`,
  "",
  `Every tailer reads the run from the wait endpoint (its resume URL, SSE) with a bare \`node:http\` + eventsource-parser reader; lag is from the server pushing a chunk (the chunk carries the moment) to its arrival at a tailer, server CPU (\`process.cpuUsage()\` in the server process, memory store) from the first chunk until every tailer has the last one; "server timer late" is how far behind its schedule the server's event loop let the chunks be pushed (not in the lag). Median of ${FANOUT_ROUNDS} runs per tailer count, a fresh server process per count; load average when it started: ${fanoutLoad}.`,
  "",
  ...fanoutRows,
  "",
  "## Client",
  "",
  "| measure | value |",
  "| --- | ---: |",
  `| parse rate in memory, 100,000 frames: bare eventsource-parser loop (events counted, no JSON) | ${Math.round(parse.bareFramesPerSecond).toLocaleString("en")} frames/s |`,
  `| parse rate in memory: bare eventsource-parser loop + JSON.parse of each event's data | ${Math.round(parse.bareJsonFramesPerSecond).toLocaleString("en")} frames/s |`,
  `| parse rate in memory: fetchWithStream (typed, validated frames and callbacks) | ${Math.round(parse.fetchWithStreamFramesPerSecond).toLocaleString("en")} frames/s (${parse.ratio.toFixed(2)} of the loop without JSON, ${parse.ratioJson.toFixed(2)} of the loop with JSON.parse) |`,
  `| createDurableStream: chunks applied per second with a subscriber reading every snapshot (${STORE_CHUNKS.toLocaleString("en")} chunks, median of ${ROUNDS}) | ${Math.round(storeRate).toLocaleString("en")} chunks/s |`,
  ...[throttled, unthrottled].map(
    (figure) =>
      `| useDurableStream renders per second, throttleMs ${figure.throttleMs}, under ${Math.round(figure.chunksPerSecond)} chunks/s (happy-dom, 3 s) | ${figure.rendersPerSecond.toFixed(1)} |`,
  ),
  "",
].join("\n");
await writeFile(new URL("./results.md", import.meta.url), markdown);
await writeFile(
  new URL("./throughput.svg", import.meta.url),
  renderChart(
    results.map((result, index) => ({ label: result.name, value: Math.round(result.framesPerSecond), baseline: index === 0 })),
    { title: `Single-stream throughput, ${CHUNKS.toLocaleString("en")} chunks (${machine})`, unit: "frames/s" },
  ),
);
console.log("wrote bench/results.md and bench/throughput.svg");
