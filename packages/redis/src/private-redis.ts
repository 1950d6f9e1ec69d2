// Test support (not exported from the package index, not published): a redis-server child process
// of the test's own, on a free loopback port, with its files in a temporary directory, for tests
// that stop, restart, kill or pause Redis. Such tests must never touch the shared test Redis
// (REDIS_URL, default 127.0.0.1:6379), which other test files use at the same time.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { Redis } from "ioredis";
import { it } from "vitest";

/** The redis-server binary: on PATH, else /usr/bin/redis-server; undefined when there is none. */
function findRedisServer(): string | undefined {
  for (const directory of (process.env.PATH ?? "").split(delimiter)) {
    if (directory !== "" && existsSync(join(directory, "redis-server"))) return join(directory, "redis-server");
  }
  return existsSync("/usr/bin/redis-server") ? "/usr/bin/redis-server" : undefined;
}

const SKIP_REASON =
  "needs a redis-server binary on PATH: these tests start, stop and pause a private redis-server of their own " +
  "(a shared Redis at REDIS_URL cannot be used for that). Install Redis 7 (e.g. apt-get install redis-server); required when CI is set";

/**
 * Whether private Redis servers can be started. Without a redis-server binary: under CI (`CI`
 * set) it throws, since these tests must run in CI and never be skipped there; locally it warns,
 * naming `what` is skipped and why, and returns false.
 */
export function redisServerAvailable(what: string): boolean {
  if (findRedisServer() !== undefined) return true;
  if (process.env.CI) {
    throw new Error(
      `redis-server is not installed, and CI is set: ${what} must run in CI, not be skipped. ` +
        "Install Redis 7 in the CI job (e.g. apt-get install redis-server) so that redis-server is on PATH. " +
        "(A Redis at REDIS_URL does not do: these tests stop and restart their own redis-server.)",
    );
  }
  console.warn(`[@durastream/redis] Skipping ${what}: it ${SKIP_REASON}.`);
  return false;
}

/** Registers one skipped test saying why, for a file whose tests all need redis-server (vitest rejects a file without tests). */
export function skipWithoutRedisServer(): void {
  it.skip(SKIP_REASON, () => {});
}

/** Options of `PrivateRedis.start`. */
export interface PrivateRedisOptions {
  /** Persist with an append-only file (`appendonly yes`), so data survives `stop()`/`kill()` + `start()`. Default false. */
  readonly aof?: boolean;
  /** The AOF's `appendfsync` policy, when `aof` is on. Default `"always"`. */
  readonly appendfsync?: "always" | "everysec" | "no";
  /** More redis-server arguments, e.g. `["--maxmemory", "10mb"]`. */
  readonly args?: readonly string[];
  /** How long `start` waits for PING to answer, ms. Default 10 000. */
  readonly startTimeout?: number;
}

/** Every live child of this process, killed when it exits (so that a crashed test run leaves no redis-server behind). */
const liveChildren = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of liveChildren) child.kill("SIGKILL");
});

/**
 * A redis-server child process of this test, on `127.0.0.1:<port>`, with its files in a temporary
 * directory. `stop()`/`kill()` and `start()` restart it on the same port and directory (with
 * `aof`, what was written survives); `pause(ms)` makes it stop answering for a while;
 * `close()` kills it and removes the directory.
 */
export class PrivateRedis {
  /** The port it listens on (the same across restarts). */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Its working directory (AOF), removed by `close()`. */
  readonly dir: string;
  readonly #binary: string;
  readonly #options: PrivateRedisOptions;
  #child: ChildProcess | undefined;
  #exited: Promise<number | null> = Promise.resolve(null);
  #output = "";
  #closed = false;

  private constructor(binary: string, port: number, dir: string, options: PrivateRedisOptions) {
    this.#binary = binary;
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.dir = dir;
    this.#options = options;
  }

  /**
   * Starts a redis-server on a free port, in a new temporary directory, and resolves once it
   * answers PING. Throws when there is no redis-server binary (see `redisServerAvailable`).
   */
  static async start(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
    const binary = findRedisServer();
    if (binary === undefined) throw new Error(`PrivateRedis.start: ${SKIP_REASON}.`);
    const dir = await mkdtemp(join(tmpdir(), "durastream-private-redis-"));
    // The port is free when chosen, but another process may take it before redis-server binds it:
    // then try another one.
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const redis = new PrivateRedis(binary, await freePort(), dir, options);
      try {
        await redis.start();
        return redis;
      } catch (error) {
        lastError = error;
        await redis.kill();
        if (!/Address already in use/i.test(redis.output())) break;
      }
    }
    rmSync(dir, { recursive: true, force: true });
    throw lastError;
  }

  /** Whether the server process is running. */
  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** The operating-system process id of the current server process, if one runs. */
  get pid(): number | undefined {
    return this.running ? this.#child!.pid : undefined;
  }

  /**
   * (Re)starts the server on the same port and directory (it loads its AOF) and resolves once it
   * answers PING; rejects, with what the server printed, when it exits or does not answer within
   * `startTimeout`. Does nothing when it runs already.
   */
  async start(): Promise<void> {
    if (this.#closed) throw new Error("PrivateRedis: closed");
    if (this.running) return;
    const { aof = false, appendfsync = "always", args = [] } = this.#options;
    const child = spawn(
      this.#binary,
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--dir",
        this.dir,
        "--save",
        "",
        "--appendonly",
        aof ? "yes" : "no",
        ...(aof ? ["--appendfsync", appendfsync] : []),
        "--daemonize",
        "no",
        ...args,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let failed = false;
    this.#output += `--- redis-server started (pid ${child.pid}) ---\n`;
    child.stdout!.on("data", (chunk: Buffer) => (this.#output += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (this.#output += chunk.toString()));
    liveChildren.add(child);
    this.#child = child;
    this.#exited = new Promise<number | null>((resolve) => {
      child.once("exit", (code) => {
        liveChildren.delete(child);
        resolve(code);
      });
      child.once("error", (error) => {
        this.#output += `spawn error: ${error.message}\n`;
        failed = true;
        liveChildren.delete(child);
        resolve(null);
      });
    });
    await this.#untilPing(child, () => failed, this.#options.startTimeout ?? 10_000);
  }

  /**
   * Stops the server gracefully (SIGTERM, i.e. SHUTDOWN: with AOF it is fsynced) and resolves with
   * its exit code once it has exited. Resolves at once when it is not running.
   */
  async stop(): Promise<number | null> {
    const child = this.#child;
    if (child === undefined) return null;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    return this.#exited;
  }

  /** Kills the server (SIGKILL: no shutdown; an `appendfsync always` AOF still holds every acknowledged write) and waits for the exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await this.#exited;
  }

  /**
   * `CLIENT PAUSE <ms> ALL`, sent on a connection of its own: for `ms` milliseconds the server
   * answers no client (connections stay open; commands wait). Resolves once the pause is in effect.
   */
  async pause(ms: number): Promise<void> {
    const admin = await this.#admin();
    try {
      await admin.call("CLIENT", "PAUSE", String(Math.round(ms)), "ALL");
    } finally {
      admin.disconnect();
    }
  }

  /** The `run_id` the server gave itself at start: a new one proves a new server process. */
  async runId(): Promise<string> {
    const admin = await this.#admin();
    try {
      return /run_id:(\w+)/.exec(await admin.info("server"))![1]!;
    } finally {
      admin.disconnect();
    }
  }

  /** A plain client of this server, for the test's own checks; the caller disconnects it. */
  client(): Redis {
    const client = new Redis(this.url, { maxRetriesPerRequest: 2 });
    client.on("error", () => {});
    return client;
  }

  /** Everything the server processes printed so far (their log), for failure messages. */
  output(): string {
    return this.#output;
  }

  /** Kills the server if it runs and removes its directory. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A one-off connection for an administrative command: connected, no retries (the caller disconnects it). */
  async #admin(): Promise<Redis> {
    const admin = new Redis(this.url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    admin.on("error", () => {});
    try {
      await admin.connect();
    } catch (error) {
      admin.disconnect();
      throw error;
    }
    return admin;
  }

  /** Resolves once the server answers PING (so it has loaded its AOF: while loading it answers LOADING). */
  async #untilPing(child: ChildProcess, failed: () => boolean, timeout: number): Promise<void> {
    const started = Date.now();
    let lastError = "";
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null || failed()) {
        throw new Error(`redis-server on port ${this.port} exited (${child.exitCode ?? child.signalCode}) before answering PING:\n${this.#output}`);
      }
      if (Date.now() - started > timeout) {
        throw new Error(`redis-server on port ${this.port} did not answer PING within ${timeout} ms (${lastError}):\n${this.#output}`);
      }
      const probe = new Redis({
        host: "127.0.0.1",
        port: this.port,
        lazyConnect: true,
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
      });
      probe.on("error", () => {});
      try {
        await probe.connect();
        if ((await probe.ping()) === "PONG") return;
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
      } finally {
        probe.disconnect();
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** A TCP port nobody listens on right now (listen on port 0, note the port, close). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
