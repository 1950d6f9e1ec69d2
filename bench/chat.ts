// Chat answer: one 1,000-token answer of the same mock model (createMockModel, one text delta per
// word; no delay unless `tokenDelayMs`) through
//   plain       the AI SDK alone: streamText + toUIMessageStream, piped to a node:http response
//               (pipeUIMessageStreamToResponse);
//   Durastream  durableChat in a durable endpoint (memory store) behind uiMessageStreamHandler,
//               served by createEndpointServer: what the stock useChat transport reads.
// Both servers run in a child process (bench/chat-server.ts); the client runs here and is the same
// for both: a POST of the request body useChat's DefaultChatTransport sends (no `Accept:
// text/event-stream`, so the Durastream route answers with the UI message stream protocol), the
// body read with node's fetch, TextDecoder in stream mode and eventsource-parser, each event's
// data JSON-parsed; every `text-delta` chunk's arrival is timestamped relative to the request start.
//
// After a warm-up, `rounds` rounds each make one request per variant, the two alternating (which
// one goes first alternates too). Figures: tokens/s (text deltas ÷ time to the end of the
// response) and time to first token, medians over the rounds; added latency per token, the
// difference between the Durastream and the plain arrival times of the same token in the same
// round (p50/p99 over every token of every round); server CPU per token (`process.cpuUsage()` in
// the server process, read before and after each request), median over the rounds.
//
// `tokenDelayMs` paces the mock (its option, a setTimeout before each delta), as a provider's tokens
// come over the network, each in its own turn of the event loop.
//
// Alone (after `pnpm build`): node --expose-gc --import tsx bench/chat.ts [tokens, default 1000] [rounds, default 5] [tokenDelayMs, default 0]
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { createParser } from "eventsource-parser";
import { median } from "./throughput.js";

export interface ChatVariantResult {
  readonly name: string;
  /** Text deltas per second, to the end of the response; median over the rounds. */
  readonly tokensPerSecond: number;
  /** From the request to the first text delta, ms; median over the rounds. */
  readonly firstTokenMs: number;
  /** From the request to the end of the response, ms; median over the rounds. */
  readonly totalMs: number;
  /** Server CPU per text delta (user + system), µs; median over the rounds. */
  readonly serverCpuPerTokenMicros: number;
}

export interface ChatResult {
  readonly tokens: number;
  readonly rounds: number;
  /** The mock's delay before each text delta, ms (0: as fast as the servers go). */
  readonly tokenDelayMs: number;
  readonly plain: ChatVariantResult;
  readonly durable: ChatVariantResult;
  /** Durastream minus plain arrival time of the same token in the same round, over every token of every round, ms. */
  readonly addedLatencyP50Ms: number;
  readonly addedLatencyP99Ms: number;
}

interface Reading {
  /** Arrival of each text delta, ms after the request started. */
  readonly arrivals: number[];
  readonly totalMs: number;
  readonly cpuMicros: number;
}

const USER_MESSAGE = { id: "u1", role: "user", parts: [{ type: "text", text: "Tell me a long story." }] };

async function serverCpu(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/cpu`);
  return ((await response.json()) as { cpu: number }).cpu;
}

/** One chat request, read the way a hand-rolled UI message stream client reads it. */
async function readChat(port: number, request: number): Promise<Reading> {
  const arrivals: number[] = [];
  let started = 0;
  const parser = createParser({
    onEvent: ({ data }) => {
      if (data === "[DONE]") return;
      const chunk = JSON.parse(data) as { type: string };
      if (chunk.type === "text-delta") arrivals.push(performance.now() - started);
      else if (chunk.type === "error") throw new Error(`error chunk: ${data}`);
    },
  });
  const cpuBefore = await serverCpu(port);
  started = performance.now();
  const response = await fetch(`http://127.0.0.1:${port}/api/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ id: `chat-${request}`, messages: [USER_MESSAGE], trigger: "submit-message" }),
  });
  if (!response.ok || response.body === null) throw new Error(`chat request: HTTP ${response.status} ${await response.text()}`);
  const decoder = new TextDecoder();
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  const totalMs = performance.now() - started;
  return { arrivals, totalMs, cpuMicros: (await serverCpu(port)) - cpuBefore };
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

async function startChatServers(tokens: number, tokenDelayMs: number): Promise<{ ports: { plain: number; durable: number }; stop: () => Promise<void> }> {
  const profile = process.env.BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const script = new URL("./chat-server.ts", import.meta.url).pathname;
  const child = spawn(process.execPath, [...profile, "--import", "tsx", script], {
    stdio: ["ignore", "pipe", "inherit"],
    env: {
      ...process.env,
      BENCH_CHAT_TOKENS: String(tokens),
      BENCH_CHAT_DELAY_MS: String(tokenDelayMs),
      DURASTREAM_SECRET: process.env.DURASTREAM_SECRET ?? "bench-secret-not-for-production",
    },
  });
  const exited = once(child, "exit");
  const [line] = (await Promise.race([
    once(createInterface({ input: child.stdout! }), "line"),
    exited.then(([code]) => Promise.reject(new Error(`bench/chat-server.ts exited with ${String(code)} before listening`))),
  ])) as [string];
  return {
    ports: JSON.parse(line) as { plain: number; durable: number },
    async stop() {
      child.kill("SIGINT");
      await exited;
    },
  };
}

/**
 * A `tokens`-token answer of the same mock model through plain streamText and through durableChat
 * behind uiMessageStreamHandler, `rounds` alternating rounds after a warm-up.
 */
export async function measureChat(tokens = 1000, rounds = 5, options: { tokenDelayMs?: number; warmUps?: number } = {}): Promise<ChatResult> {
  const { tokenDelayMs = 0, warmUps = 5 } = options;
  const servers = await startChatServers(tokens, tokenDelayMs);
  try {
    const variants = [
      { name: "AI SDK streamText + toUIMessageStream (node:http)", port: servers.ports.plain },
      { name: "Durastream durableChat + uiMessageStreamHandler (memory store)", port: servers.ports.durable },
    ] as const;
    let requests = 0;
    for (let warmUp = 0; warmUp < warmUps; warmUp += 1) for (const variant of variants) await readChat(variant.port, requests++);
    const readings: [Reading[], Reading[]] = [[], []];
    const added: number[] = [];
    for (let round = 0; round < rounds; round += 1) {
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      const pair: Reading[] = [];
      for (const index of order) {
        (globalThis as { gc?: () => void }).gc?.();
        const reading = await readChat(variants[index]!.port, requests++);
        if (reading.arrivals.length !== tokens) throw new Error(`${variants[index]!.name}: ${reading.arrivals.length} text deltas, expected ${tokens}`);
        readings[index]!.push(reading);
        pair[index] = reading;
      }
      for (let token = 0; token < tokens; token += 1) added.push(pair[1]!.arrivals[token]! - pair[0]!.arrivals[token]!);
    }
    const summary = (index: 0 | 1): ChatVariantResult => ({
      name: variants[index].name,
      tokensPerSecond: median(readings[index].map((reading) => tokens / (reading.totalMs / 1000))),
      firstTokenMs: median(readings[index].map((reading) => reading.arrivals[0]!)),
      totalMs: median(readings[index].map((reading) => reading.totalMs)),
      serverCpuPerTokenMicros: median(readings[index].map((reading) => reading.cpuMicros / tokens)),
    });
    added.sort((a, b) => a - b);
    return {
      tokens,
      rounds,
      tokenDelayMs,
      plain: summary(0),
      durable: summary(1),
      addedLatencyP50Ms: quantile(added, 0.5),
      addedLatencyP99Ms: quantile(added, 0.99),
    };
  } finally {
    await servers.stop();
  }
}

/** The results (one per model pace) as one Markdown table, and a note on the added latency. */
export function formatChat(results: readonly ChatResult[]): string[] {
  const pace = (result: ChatResult) => (result.tokenDelayMs === 0 ? "no delay" : `${result.tokenDelayMs} ms before each token`);
  const row = (result: ChatResult, variant: ChatVariantResult, added: string) =>
    `| ${pace(result)} | ${variant.name} | ${Math.round(variant.tokensPerSecond).toLocaleString("en")} | ${variant.firstTokenMs.toFixed(2)} | ${variant.totalMs.toFixed(1)} | ${added} | ${variant.serverCpuPerTokenMicros.toFixed(1)} |`;
  return [
    "| model | server and route | tokens/s | first token, ms | whole answer, ms | added latency per token, p50 / p99 ms | server CPU per token, µs |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ...results.flatMap((result) => [
      row(result, result.plain, "—"),
      row(result, result.durable, `${result.addedLatencyP50Ms.toFixed(2)} / ${result.addedLatencyP99Ms.toFixed(2)}`),
    ]),
    "",
    `Added latency per token: Durastream's minus plain's arrival time of the same token (from the request start) in the same round, over every token of every round (${results.map((result) => `${result.tokens.toLocaleString("en")} tokens × ${result.rounds} rounds`).join("; ")}). The mock produces a token only after the previous one was taken, so a slower server delays every later token too: the difference grows along the answer (on average ${results.map((result) => `${(((result.durable.totalMs - result.plain.totalMs) / result.tokens) * 1000).toFixed(1)} µs per token ${result.tokenDelayMs === 0 ? "without delay" : "paced"}`).join(", ")}). Without delay, Durastream's first token arrives with most of the answer (the whole answer is produced in a few turns of the event loop, and its server writes what one turn produced as one piece): for the time to first token a real provider would give, read the paced rows.`,
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const tokens = Number(process.argv[2] ?? 1000);
  const rounds = Number(process.argv[3] ?? 5);
  const tokenDelayMs = Number(process.argv[4] ?? 0);
  console.log(formatChat([await measureChat(tokens, rounds, { tokenDelayMs })]).join("\n"));
}
