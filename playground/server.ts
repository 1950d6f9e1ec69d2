// The playground's front server (and the worker's supervisor), started by `pnpm playground`:
//
//   browser ──HTTP──▶ server.ts (this process)              ──IPC + loopback HTTP──▶ worker.ts (child)
//                     · the page, built with Vite at start                            · POST /api/run (durable endpoint)
//                     · proxies /api/run and /api/durable/…                           · GET /api/durable/… (wait endpoint)
//                     · "drop the connection at frame F"                              · SqliteRunStore on <temp>/runs.sqlite
//                     · /api/worker: status, SIGKILL + restart
//
// The durable execution lives in the worker, on a SQLite file. Killing the worker (SIGKILL) and
// starting a new one on the same file is a real crash and takeover: the new worker rolls back the
// interrupted step and finishes the run, and the page, whose connection broke, reconnects with
// Last-Event-ID. Requests that arrive while no worker is up wait for the next one.
//
// Run: node --conditions=@durastream/source --import tsx server.ts   (PORT, default 3000; PLAYGROUND_HOST, default all interfaces)
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, extname, join, resolve, sep } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { WorkerMessage } from "./worker.js";

/** This folder. */
export const playgroundDirectory = dirname(fileURLToPath(import.meta.url));

export interface PlaygroundOptions {
  /** Port to listen on; 0 picks a free one. Default: $PORT, else 3000. */
  port?: number;
  /** Interface to listen on. Default: $PLAYGROUND_HOST, else all (so http://localhost works over IPv4 and IPv6). */
  host?: string;
  /** Where to log; default console.log. */
  log?: (line: string) => void;
  /** Where the worker's output goes, line by line; default: straight to this process's stdout/stderr. */
  workerOutput?: (line: string) => void;
  /** Where the built page and the SQLite file go; default a fresh temporary folder, removed on close. */
  directory?: string;
}

/** What /api/worker answers. */
export interface WorkerStatus {
  /** The worker's pid, or null while none is up. */
  pid: number | null;
  /** "running", or "starting" while a (re)started worker is not listening yet. */
  state: "running" | "starting";
  /** How many workers were started so far (1 for the first). */
  generation: number;
  /** How many times a worker was killed (or died) and replaced. */
  restarts: number;
  /** The SQLite file the workers share. */
  database: string;
}

export interface Playground {
  /** e.g. http://localhost:3000 */
  url: string;
  port: number;
  worker(): WorkerStatus;
  /** SIGKILLs the worker and starts a new one on the same SQLite file; resolves when it listens. */
  killWorker(reason?: string): Promise<WorkerStatus>;
  /** Resolves once a worker listens. */
  workerReady(): Promise<void>;
  close(): Promise<void>;
}

/** The response header naming the run (the protocol's `RUN_ID_HEADER`). */
const RUN_ID_HEADER = "x-durastream-run-id";

/** How long a proxied request waits for a worker to come up before it gets a 503. */
const WORKER_WAIT_MS = 20_000;

// ---------------------------------------------------------------------------------------------
// The page

/** Builds page/ (index.html, main.tsx) into `outDir` with Vite; workspace packages from their TypeScript sources. */
export async function buildPage(outDir: string): Promise<void> {
  const { build, defaultClientConditions } = await import("vite");
  await build({
    configFile: false,
    root: join(playgroundDirectory, "page"),
    mode: "production",
    logLevel: "warn",
    resolve: { conditions: ["@durastream/source", ...defaultClientConditions] },
    oxc: { jsx: { runtime: "automatic" } },
    build: {
      outDir,
      emptyOutDir: true,
      reportCompressedSize: false,
      chunkSizeWarningLimit: 10_000,
      rolldownOptions: {
        // "use client" at the top of the hook's file is for React Server Components bundlers.
        onwarn(warning, warn) {
          if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
        },
      },
    },
  });
}

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json",
};

// ---------------------------------------------------------------------------------------------
// The worker

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
  settled: boolean;
}

function deferred<T>(): Deferred<T> {
  const entry = { settled: false } as Deferred<T>;
  entry.promise = new Promise<T>((resolve, reject) => {
    entry.resolve = (value) => {
      entry.settled = true;
      resolve(value);
    };
    entry.reject = (error) => {
      entry.settled = true;
      reject(error);
    };
  });
  entry.promise.catch(() => {}); // reported to whoever waits for it
  return entry;
}

/** Starts the worker, restarts it when it dies or is killed; one worker at a time on the SQLite file. */
class WorkerSupervisor {
  readonly #database: string;
  readonly #secret = randomBytes(24).toString("base64url");
  readonly #log: (line: string) => void;
  readonly #output: ((line: string) => void) | undefined;
  #child: ChildProcess | null = null;
  /** Resolves with the port of a listening worker; replaced by a pending one when the worker goes away. */
  #ready = deferred<number>();
  #generation = 0;
  #restarts = 0;
  /** Workers in a row that died before they listened. */
  #failedStarts = 0;
  #closed = false;

  constructor(database: string, log: (line: string) => void, output?: (line: string) => void) {
    this.#database = database;
    this.#log = log;
    this.#output = output;
    this.#start();
  }

  status(): WorkerStatus {
    return {
      pid: this.#child?.pid ?? null,
      state: this.#ready.settled ? "running" : "starting",
      generation: this.#generation,
      restarts: this.#restarts,
      database: this.#database,
    };
  }

  /** The port of a listening worker (waits while one starts). */
  port(): Promise<number> {
    return this.#ready.promise;
  }

  /** SIGKILLs the current worker; a new one starts on the same file. Resolves when it listens. */
  async kill(reason: string): Promise<void> {
    const child = this.#child;
    if (child === null || this.#closed) return;
    this.#log(`killing worker ${child.pid} with SIGKILL (${reason})`);
    this.#gone(child);
    child.kill("SIGKILL");
    await this.#ready.promise;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (!this.#ready.settled) this.#ready.reject(new Error("The playground is shutting down."));
    const child = this.#child;
    this.#child = null;
    if (child !== null && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exited;
      clearTimeout(timer);
    }
  }

  #start(): void {
    this.#generation += 1;
    const child = spawn(process.execPath, ["--conditions=@durastream/source", "--import", "tsx", join(playgroundDirectory, "worker.ts")], {
      cwd: playgroundDirectory,
      env: { ...process.env, PLAYGROUND_DB: this.#database, PLAYGROUND_SECRET: this.#secret },
      stdio: ["ignore", this.#output ? "pipe" : "inherit", this.#output ? "pipe" : "inherit", "ipc"],
    });
    this.#child = child;
    if (this.#output !== undefined) {
      for (const stream of [child.stdout, child.stderr]) {
        if (stream !== null) createInterface({ input: stream }).on("line", this.#output);
      }
    }
    child.on("message", (message: WorkerMessage) => {
      if (child !== this.#child) return;
      if (message.type === "ready") {
        this.#failedStarts = 0;
        this.#log(`worker ${child.pid} listening (generation ${this.#generation}, ${this.#database})`);
        this.#ready.resolve(message.port);
      } else if (message.type === "kill-me") {
        void this.kill(message.reason);
      }
    });
    child.on("exit", (code, signal) => {
      if (child !== this.#child || this.#closed) return; // killed on purpose (already replaced), or shutting down
      const started = this.#ready.settled;
      this.#log(`worker ${child.pid} exited (${signal ?? `code ${code}`})`);
      if (!started && ++this.#failedStarts >= 3) {
        this.#child = null;
        this.#ready.reject(new Error("The worker failed to start three times in a row; see its output above."));
        return;
      }
      this.#gone(child);
    });
  }

  /** `previous` is going away: requests wait for the next worker, started once `previous` has exited. */
  #gone(previous: ChildProcess): void {
    this.#restarts += 1;
    this.#child = null;
    if (this.#ready.settled) this.#ready = deferred<number>();
    const next = () => {
      if (!this.#closed) this.#start();
    };
    if (previous.exitCode !== null || previous.signalCode !== null) next();
    else previous.once("exit", next);
  }
}

// ---------------------------------------------------------------------------------------------
// Proxying to the worker

const hopByHop = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"]);

function forwardHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !hopByHop.has(name)));
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Forwards one request to the worker and streams its answer back. When the worker dies mid-answer,
 * the browser's connection is destroyed too (so the client reconnects).
 *
 * Dropped connections (fault injection): `drops` maps a run id to a log-frame number F. Whichever
 * connection of that run carries the log frame with sequence number ≥ F (offset `<epoch>-<F>`) is
 * cut abruptly right after it, once. `dropAtFrame` (from the POST body) registers the run.
 */
async function proxyToWorker(
  supervisor: WorkerSupervisor,
  request: IncomingMessage,
  response: ServerResponse,
  body: Buffer,
  drops: Map<string, number>,
  dropAtFrame: number,
  log: (line: string) => void,
): Promise<void> {
  for (let tries = 1; ; tries++) {
    let port: number;
    try {
      port = await withTimeout(supervisor.port(), WORKER_WAIT_MS);
    } catch (error) {
      return sendJson(response, 503, { error: `No worker: ${(error as Error).message}` });
    }
    const outcome = await new Promise<"done" | "refused">((done) => {
      const upstream = httpRequest({
        host: "127.0.0.1",
        port,
        method: request.method,
        path: request.url,
        headers: { ...forwardHeaders(request.headers), "content-length": String(body.length) },
        agent: false,
      });
      const closeUpstream = () => upstream.destroy();
      response.on("close", closeUpstream); // the browser went away
      upstream.on("error", (error: NodeJS.ErrnoException) => {
        response.off("close", closeUpstream);
        // Nothing reached a worker: safe to send again once a worker is up.
        if (error.code === "ECONNREFUSED" && !response.headersSent) return done("refused");
        if (!response.headersSent) sendJson(response, 502, { error: `The worker failed: ${error.message}` });
        else response.destroy();
        done("done");
      });
      upstream.on("response", (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.statusMessage, forwardHeaders(answer.headers));
        response.flushHeaders();
        const header = answer.headers[RUN_ID_HEADER];
        const runId = typeof header === "string" ? header : "";
        if (runId !== "" && dropAtFrame > 0) drops.set(runId, dropAtFrame);
        const cutting = drops.has(runId) && String(answer.headers["content-type"]).startsWith("text/event-stream");
        let pending: Buffer = Buffer.alloc(0);
        let dropped = false;
        answer.on("data", (chunk: Buffer) => {
          if (!cutting) return void response.write(chunk);
          pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
          for (let end = pending.indexOf("\n\n"); end !== -1; end = pending.indexOf("\n\n")) {
            const event = pending.subarray(0, end + 2);
            pending = pending.subarray(end + 2);
            const sequence = /^id: ?\d+-(\d+)$/m.exec(event.toString("utf8"))?.[1];
            const frame = drops.get(runId);
            if (sequence !== undefined && frame !== undefined && Number(sequence) >= frame) {
              drops.delete(runId);
              log(`dropping the connection of run ${runId} after log frame ${frame} (fault injection)`);
              dropped = true;
              answer.removeAllListeners("data");
              answer.destroy();
              response.write(event, () => response.destroy()); // cut once that frame is out
              return;
            }
            response.write(event);
          }
          if (!drops.has(runId)) {
            response.write(pending); // dropped on another connection already: pass the rest through
            pending = Buffer.alloc(0);
          }
        });
        answer.on("end", () => response.end());
        answer.on("close", () => {
          response.off("close", closeUpstream);
          if (!answer.complete && !dropped) response.destroy(); // the worker died mid-answer
          done("done");
        });
      });
      upstream.end(body);
    });
    if (outcome === "done") return;
    if (tries >= 3) return sendJson(response, 503, { error: "The worker refused the connection." });
    await supervisor.port().catch(() => {});
  }
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  if (response.headersSent) return void response.destroy();
  response.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  response.end(JSON.stringify(body));
}

function withTimeout<T>(promise: Promise<T>, milliseconds: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${milliseconds} ms`)), milliseconds);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// The server

/** Builds the page, starts the worker and listens. */
export async function startPlayground(options: PlaygroundOptions = {}): Promise<Playground> {
  const log = options.log ?? ((line: string) => console.log(line));
  const ownDirectory = options.directory === undefined;
  const directory = options.directory ?? mkdtempSync(join(tmpdir(), "durastream-playground-"));
  mkdirSync(directory, { recursive: true });
  const pageDirectory = join(directory, "page");
  const database = join(directory, "runs.sqlite");

  const supervisor = new WorkerSupervisor(database, log, options.workerOutput);
  try {
    await buildPage(pageDirectory);
  } catch (error) {
    await supervisor.close();
    if (ownDirectory) rmSync(directory, { recursive: true, force: true });
    throw error;
  }

  /** Runs whose connection is to be dropped at a log frame: run id → frame number. */
  const drops = new Map<string, number>();

  const servePage = (pathname: string, response: ServerResponse) => {
    const root = resolve(pageDirectory);
    let file: string;
    try {
      file = resolve(root, `.${pathname === "/" ? "/index.html" : decodeURIComponent(pathname)}`);
    } catch {
      return sendJson(response, 400, { error: "bad path" });
    }
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) return sendJson(response, 404, { error: "not found" });
    response.writeHead(200, { "content-type": contentTypes[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
    response.end(readFileSync(file));
  };

  const server = createServer({ noDelay: true }, (request, response) => {
    void (async () => {
      const { pathname } = new URL(request.url ?? "/", "http://localhost");
      if (pathname === "/api/worker" && request.method === "GET") return sendJson(response, 200, supervisor.status());
      if (pathname === "/api/worker/kill" && request.method === "POST") {
        await readBody(request);
        await supervisor.kill("the Kill worker button");
        return sendJson(response, 200, supervisor.status());
      }
      if ((pathname === "/api/run" && request.method === "POST") || pathname.startsWith("/api/durable/")) {
        const body = await readBody(request);
        let dropAtFrame = 0;
        if (pathname === "/api/run") {
          try {
            const parsed = JSON.parse(body.toString("utf8")) as { dropAtFrame?: unknown };
            if (typeof parsed.dropAtFrame === "number" && parsed.dropAtFrame > 0) dropAtFrame = Math.floor(parsed.dropAtFrame);
          } catch {
            // the worker answers a bad body
          }
        }
        return proxyToWorker(supervisor, request, response, body, drops, dropAtFrame, log);
      }
      if (request.method === "GET" || request.method === "HEAD") return servePage(pathname, response);
      return sendJson(response, 404, { error: "not found" });
    })().catch((error: unknown) => {
      log(`request failed: ${error instanceof Error ? error.stack : String(error)}`);
      sendJson(response, 500, { error: "internal error" });
    });
  });

  const port = options.port ?? Number(process.env.PORT ?? 3000);
  try {
    await new Promise<void>((resolveListen, reject) => {
      server.once("error", reject);
      const done = () => {
        server.off("error", reject);
        resolveListen();
      };
      const host = options.host ?? process.env.PLAYGROUND_HOST;
      if (host === undefined || host === "") server.listen(port, done);
      else server.listen(port, host, done);
    });
  } catch (error) {
    await supervisor.close();
    if (ownDirectory) rmSync(directory, { recursive: true, force: true });
    throw error;
  }
  const actualPort = (server.address() as AddressInfo).port;

  return {
    url: `http://localhost:${actualPort}`,
    port: actualPort,
    worker: () => supervisor.status(),
    async killWorker(reason = "killWorker()") {
      await supervisor.kill(reason);
      return supervisor.status();
    },
    workerReady: () => supervisor.port().then(() => undefined),
    async close() {
      server.closeAllConnections();
      await new Promise((resolveClose) => server.close(resolveClose));
      await supervisor.close();
      if (ownDirectory) rmSync(directory, { recursive: true, force: true });
    },
  };
}

// `node … server.ts`: start and print the URL.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const started = Date.now();
  startPlayground().then(
    async (playground) => {
      await playground.workerReady();
      console.log(`Playground: ${playground.url}`);
      console.log(`(ready in ${((Date.now() - started) / 1000).toFixed(1)} s; Ctrl-C stops it)`);
      let stopping = false;
      const stop = () => {
        if (stopping) return;
        stopping = true;
        void playground.close().then(() => process.exit(0));
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    },
    (error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
        console.error(`Port ${process.env.PORT ?? 3000} is in use. Pick another one: PORT=3001 pnpm playground`);
      } else {
        console.error(error);
      }
      process.exit(1);
    },
  );
}
