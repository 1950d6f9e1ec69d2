// Servers for the many-streams benchmark (bench/many-streams.ts), run in a child process.
// Usage: node --expose-gc --import tsx bench/many-streams-server.ts (after `pnpm build`)
// Environment: BENCH_TICK_MS (default 50), the period of every stream; BENCH_PHASES: "spread"
// (default) or "together".
// Prints one JSON line {"raw": port, "durable": port, "control": port} once all three listen.
//
// One ticker pushes a chunk to every active stream once per period: the raw endpoint writes an SSE
// data frame straight to the socket, the durable endpoint's step pipes an async iterable the ticker
// feeds. With BENCH_PHASES=spread the streams are dealt round-robin into one-millisecond slots of
// the period, so their chunks are spread evenly over it, as independent model calls are; with
// "together" every stream gets its chunk on the same tick (a burst of one chunk per stream: the
// worst case, where a chunk's latency is mostly its place in the burst). Every chunk's data is the moment it was produced, `performance.timeOrigin +
// performance.now()` in ms, as a string. The control server answers:
//   GET  /clock             {"now": ms}                                   (clock offset estimate)
//   GET  /stats[?gc=1]      cpu (µs, user + system), memory (RSS, heap, V8 space sizes), chunks produced, active streams
//   POST /stop?variant=raw|durable   ends every active stream of that endpoint cleanly
import http from "node:http";
import v8 from "node:v8";
import type { AddressInfo } from "node:net";
import { encodeFrame, hashStepId, PROTOCOL_VERSION } from "@durastream/protocol";
import { encodeDataPayload } from "@durastream/protocol/internal";
import { createDurable, step, stream } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";

const TICK_MS = Number(process.env.BENCH_TICK_MS ?? 50);
const PHASES = process.env.BENCH_PHASES ?? "spread";
if (PHASES !== "spread" && PHASES !== "together") throw new Error(`BENCH_PHASES must be "spread" or "together", got ${PHASES}`);
/** One-millisecond slots per period (one slot when every stream ticks together). */
const SLOTS = PHASES === "spread" ? Math.max(1, Math.round(TICK_MS)) : 1;
const STEP_ID = "ticks";

const stamp = (): number => performance.timeOrigin + performance.now();

/** An async iterable the ticker pushes into; one per durable stream. */
class Feed implements AsyncIterableIterator<string> {
  #queue: string[] = [];
  #waiting: ((result: IteratorResult<string>) => void) | null = null;
  #ended = false;

  push(text: string): void {
    if (this.#ended) return;
    const waiting = this.#waiting;
    if (waiting !== null) {
      this.#waiting = null;
      waiting({ done: false, value: text });
    } else {
      this.#queue.push(text);
    }
  }

  /** Ends the iterable once the queued chunks are read. */
  end(): void {
    this.#ended = true;
    feeds.delete(this);
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.({ done: true, value: undefined });
  }

  next(): Promise<IteratorResult<string>> {
    const text = this.#queue.shift();
    if (text !== undefined) return Promise.resolve({ done: false, value: text });
    if (this.#ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  /** Called when the pipe stops early (run cancelled). */
  return(): Promise<IteratorResult<string>> {
    this.#queue.length = 0;
    this.end();
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

interface RawStream {
  readonly response: http.ServerResponse;
  sequence: number;
}

/** Active streams dealt round-robin into the ticker's slots. */
class Slotted<T> {
  readonly #slots: Set<T>[] = Array.from({ length: SLOTS }, () => new Set<T>());
  readonly #slotOf = new Map<T, Set<T>>();
  #dealt = 0;

  add(item: T): void {
    const slot = this.#slots[this.#dealt++ % SLOTS]!;
    slot.add(item);
    this.#slotOf.set(item, slot);
  }

  delete(item: T): void {
    this.#slotOf.get(item)?.delete(item);
    this.#slotOf.delete(item);
  }

  get size(): number {
    return this.#slotOf.size;
  }

  slot(index: number): Set<T> {
    return this.#slots[index % SLOTS]!;
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.#slotOf.keys();
  }
}

const rawStreams = new Slotted<RawStream>();
const feeds = new Slotted<Feed>();
const produced = { raw: 0, durable: 0 };

const hashed = await hashStepId(STEP_ID);

/** The physical limit: a hand-written SSE endpoint writing the same frames straight to the socket. */
function rawServer(): http.Server {
  return http.createServer((_request, response) => {
    response.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
    response.write(encodeFrame({ type: "metadata", runId: "raw", protocolVersion: PROTOCOL_VERSION, resumeUrl: null }));
    const entry: RawStream = { response, sequence: 0 };
    rawStreams.add(entry);
    response.on("close", () => rawStreams.delete(entry));
  });
}

function endRaw(entry: RawStream): void {
  rawStreams.delete(entry);
  const { response } = entry;
  response.write(encodeFrame({ type: "commit", offset: `1-${++entry.sequence}`, hashedStepId: hashed }));
  response.end(
    encodeFrame({
      type: "result",
      offset: `1-${++entry.sequence}`,
      status: "succeeded",
      response: { status: 200, statusText: "", headers: [["content-type", "application/json"]], body: '{"ok":true}', bodyEncoding: "text" },
    }),
  );
}

function durableServer(): http.Server {
  const durable = createDurable({ backoff: () => 0 });
  const endpoint = durable.endpoint(
    async () => {
      await step.run(STEP_ID, () =>
        stream.pipe(() => {
          const feed = new Feed();
          feeds.add(feed);
          return feed;
        }),
      );
      return Response.json({ ok: true });
    },
    { id: "many-streams" },
  );
  const waitEndpoint = durable.waitEndpoint();
  return createEndpointServer((request) => (new URL(request.url).pathname.startsWith("/api/durable/") ? waitEndpoint(request) : endpoint(request)));
}

/**
 * One shared ticker for every stream of both endpoints, on a fixed schedule: slot `k` of the period
 * is due at `start + k * TICK_MS / SLOTS`; a tick serves every slot that has come due since the last
 * one, and skips slots more than a whole period late.
 */
function startTicker(): void {
  const slotMs = TICK_MS / SLOTS;
  const start = performance.now();
  let nextSlot = 1;
  const tick = () => {
    const now = performance.now();
    const due = Math.floor((now - start) / slotMs);
    if (due - nextSlot >= SLOTS) nextSlot = due - SLOTS + 1; // more than a whole period late: skip
    for (; nextSlot <= due; nextSlot += 1) {
      for (const entry of rawStreams.slot(nextSlot)) {
        const data = JSON.stringify(String(stamp()));
        entry.response.write(`event: data\nid: 1-${++entry.sequence}\ndata: ${encodeDataPayload(hashed, data)}\n\n`);
        produced.raw += 1;
      }
      for (const feed of feeds.slot(nextSlot)) {
        feed.push(String(stamp()));
        produced.durable += 1;
      }
    }
    setTimeout(tick, Math.max(0, start + nextSlot * slotMs - performance.now()));
  };
  setTimeout(tick, slotMs);
}

function json(response: http.ServerResponse, body: unknown): void {
  response.writeHead(200, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
}

function controlServer(): http.Server {
  return http.createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    if (url.pathname === "/clock") return json(response, { now: stamp() });
    if (url.pathname === "/stats") {
      if (url.searchParams.get("gc") === "1") (globalThis as { gc?: () => void }).gc?.();
      const cpu = process.cpuUsage();
      const memory = process.memoryUsage();
      return json(response, {
        now: stamp(),
        cpu: cpu.user + cpu.system,
        rss: memory.rss,
        heapUsed: memory.heapUsed,
        heapTotal: memory.heapTotal,
        external: memory.external,
        spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((space) => [space.space_name, space.space_size])),
        produced,
        active: { raw: rawStreams.size, durable: feeds.size },
      });
    }
    if (url.pathname === "/stop" && request.method === "POST") {
      const variant = url.searchParams.get("variant");
      const stopped = variant === "raw" ? rawStreams.size : variant === "durable" ? feeds.size : 0;
      if (variant === "raw") for (const entry of [...rawStreams]) endRaw(entry);
      if (variant === "durable") for (const feed of [...feeds]) feed.end();
      return json(response, { stopped });
    }
    response.writeHead(404).end();
  });
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, () => resolve((server.address() as AddressInfo).port)));
}

const ports = { raw: await listen(rawServer()), durable: await listen(durableServer()), control: await listen(controlServer()) };
startTicker();
process.stdout.write(`${JSON.stringify(ports)}\n`);
process.on("SIGINT", () => process.exit(0)); // exit cleanly so a CPU profile (--cpu-prof) gets written
