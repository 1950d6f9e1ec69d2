// Server for the fan-out benchmark (bench/fanout.ts), run in a child process so its CPU is its own.
// Usage: node --import tsx bench/fanout-server.ts (after `pnpm build`)
// Environment: BENCH_FANOUT_STORE: "memory" (default) or "sqlite" (a temp file).
// Prints one JSON line {"durable": port, "control": port} once both listen.
//
// The durable endpoint (POST /fanout) starts a run whose one step pipes a feed; the feed stays
// silent until the control server's POST /go, then gets one chunk every 1000 / rate ms (on a fixed
// schedule) for `seconds`, then ends, so the step commits and the run finishes. Every chunk's data
// is the moment it was pushed, `performance.timeOrigin + performance.now()` in ms, as a string.
// Tailers read the run through the wait endpoint (/api/durable/<runId>, the metadata frame's
// resumeUrl). The control server answers:
//   GET  /clock                     {"now": ms}                 (clock offset estimate)
//   GET  /stats                     {"now": ms, "cpu": µs, "lateness": {p99, max, pushed}}: user +
//                                   system CPU of this process; how late the latest run's chunks were
//                                   pushed against their schedule (ms), and how many were pushed
//   POST /go?rate=50&seconds=5      starts the current run's chunks; answers {"now", "cpu", "chunks"}
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createDurable, step, stream, type RunStore } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";

const stamp = (): number => performance.timeOrigin + performance.now();

/** An async iterable the ticker pushes into; one per run. */
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

  end(): void {
    this.#ended = true;
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

  return(): Promise<IteratorResult<string>> {
    this.#queue.length = 0;
    this.end();
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** Feeds of runs started and not yet given their chunks, oldest first. */
const waitingFeeds: Feed[] = [];

async function openStore(): Promise<RunStore | undefined> {
  const kind = process.env.BENCH_FANOUT_STORE ?? "memory";
  if (kind === "memory") return undefined;
  if (kind !== "sqlite") throw new Error(`BENCH_FANOUT_STORE must be "memory" or "sqlite", got ${kind}`);
  const { SqliteRunStore } = await import("@durastream/sqlite");
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  return new SqliteRunStore({ path: join(mkdtempSync(join(tmpdir(), "durastream-fanout-")), "runs.sqlite") });
}

async function durableServer(): Promise<http.Server> {
  const store = await openStore();
  const durable = createDurable(store === undefined ? {} : { store });
  const endpoint = durable.endpoint(
    async () => {
      await step.run("ticks", () =>
        stream.pipe(() => {
          const feed = new Feed();
          waitingFeeds.push(feed);
          return feed;
        }),
      );
      return Response.json({ ok: true });
    },
    { id: "fanout" },
  );
  const waitEndpoint = durable.waitEndpoint();
  return createEndpointServer((request) => (new URL(request.url).pathname.startsWith("/api/durable/") ? waitEndpoint(request) : endpoint(request)));
}

/** How late the pushes of the latest run were against their schedule, ms. */
let lateness: number[] = [];

/**
 * Pushes `chunks` chunks into `feed` on a fixed schedule, chunk k due at start + k * period (every
 * chunk that has come due when a timer fires is pushed then, so a busy event loop delays chunks
 * but does not slow the rate down), then ends it.
 */
function tick(feed: Feed, chunks: number, periodMs: number): void {
  const start = performance.now();
  lateness = [];
  let sent = 0;
  const next = () => {
    const due = Math.min(chunks, Math.floor((performance.now() - start) / periodMs) + 1);
    for (; sent < due; sent += 1) {
      feed.push(String(stamp()));
      lateness.push(performance.now() - (start + sent * periodMs));
    }
    if (sent === chunks) {
      feed.end();
      return;
    }
    setTimeout(next, Math.max(0, start + sent * periodMs - performance.now()));
  };
  next();
}

/** Lateness of the latest run's pushes against their schedule: p99 and max, ms. */
function latenessStats(): { p99: number; max: number; pushed: number } {
  const sorted = [...lateness].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!);
  return { p99: at(0.99), max: at(1), pushed: sorted.length };
}

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

function json(response: http.ServerResponse, body: unknown, status = 200): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(JSON.stringify(body));
}

function controlServer(): http.Server {
  return http.createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://localhost");
    if (url.pathname === "/clock") return json(response, { now: stamp() });
    if (url.pathname === "/stats") return json(response, { now: stamp(), cpu: cpuMicros(), lateness: latenessStats() });
    if (url.pathname === "/go" && request.method === "POST") {
      const feed = waitingFeeds.shift();
      if (feed === undefined) return json(response, { error: "no run is waiting for its chunks" }, 409);
      const rate = Number(url.searchParams.get("rate") ?? 50);
      const chunks = Math.max(1, Math.round(rate * Number(url.searchParams.get("seconds") ?? 5)));
      const body = { now: stamp(), cpu: cpuMicros(), chunks };
      tick(feed, chunks, 1000 / rate);
      return json(response, body);
    }
    response.writeHead(404).end();
  });
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, () => resolve((server.address() as AddressInfo).port)));
}

const ports = { durable: await listen(await durableServer()), control: await listen(controlServer()) };
process.stdout.write(`${JSON.stringify(ports)}\n`);
process.on("SIGINT", () => process.exit(0)); // exit cleanly so a CPU profile (--cpu-prof) gets written
