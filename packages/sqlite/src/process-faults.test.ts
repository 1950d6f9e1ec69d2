// Process faults with a real server process on a SQLite file (process-faults-server.fixture.ts):
// a poison step that SIGKILLs its process on every attempt (a supervisor restarts the process,
// like a process manager would), and a graceful shutdown on SIGTERM with the README's snippet.
// Nothing waits on the clock: every wait is for a printed line, a process exit or a client event
// (a timer only bounds how long a process may take to exit, to fail with a clear message).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import {
  fetchWithStream,
  type FetchFunction,
  type FetchWithStreamOptions,
  type StepRollback,
  type StreamRedirect,
  type StreamResult,
} from "@durastream/client";
import { afterEach, expect, it } from "vitest";

const packageDirectory = dirname(dirname(fileURLToPath(import.meta.url)));
const children: ChildProcess[] = [];
const cleanups: (() => void)[] = [];
let directory: string | undefined;

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
  directory = undefined;
});

/** Something changed (a line was printed, a process exited): re-check whoever waits. */
const watchers = new Set<() => void>();
const changed = () => {
  for (const watcher of [...watchers]) watcher();
};
/** Resolves once `predicate` holds, re-checked on every change; never on a timer. */
function until(predicate: () => boolean): Promise<void> {
  if (predicate()) return Promise.resolve();
  return new Promise((resolve) => {
    const watcher = () => {
      if (!predicate()) return;
      watchers.delete(watcher);
      resolve();
    };
    watchers.add(watcher);
  });
}

interface ServerProcess {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly port: number;
  /** Settles with how the process ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** How many printed lines start with `prefix`. */
  count(prefix: string): number;
}

/** Starts the fixture server on `path` and `port` (0: any); resolves once it listens. */
async function startServer(path: string, port: number, env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ["--conditions=@durastream/source", "--import", "tsx", "src/process-faults-server.fixture.ts", path, String(port)], {
    cwd: packageDirectory,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const lines: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      resolve({ code, signal });
      changed();
    }),
  );
  createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(line);
    changed();
  });
  let ended = false;
  void exited.then(() => (ended = true));
  await until(() => ended || lines.some((line) => line.startsWith("listening ")));
  const listening = lines.find((line) => line.startsWith("listening "));
  if (listening === undefined) throw new Error(`The fixture server exited before listening; it printed: ${JSON.stringify(lines)}`);
  return {
    child,
    lines,
    port: Number(listening.split(" ")[1]),
    exited,
    count: (prefix) => lines.filter((line) => line.startsWith(prefix)).length,
  };
}

/** A client's view of one run: committed chunks, pending ones, rollbacks, redirects, the result. */
function recordingClient(fetchFunction?: FetchFunction) {
  const committed: unknown[] = [];
  const pending = new Map<string | null, unknown[]>();
  const rollbacks: StepRollback[] = [];
  const redirects: StreamRedirect[] = [];
  const results: StreamResult[] = [];
  const reconnects: string[] = [];
  let resumeUrl: string | null = null;
  const controller = new AbortController();
  cleanups.push(() => controller.abort());
  const options: FetchWithStreamOptions = {
    ...(fetchFunction === undefined ? {} : { fetch: fetchFunction }),
    fetchOpts: { method: "POST", body: "{}", signal: controller.signal },
    // Generous: the server is down while a process restarts.
    reconnect: { retries: 200, initialDelay: 100, factor: 1, jitter: 0 },
    onMetadata: (metadata) => {
      resumeUrl = metadata.resumeUrl;
      changed();
    },
    onData: ({ data, hashedStepId }) => {
      pending.set(hashedStepId, [...(pending.get(hashedStepId) ?? []), data]);
      changed();
    },
    onCommit: ({ hashedStepId }) => {
      committed.push(...(pending.get(hashedStepId) ?? []));
      pending.delete(hashedStepId);
      changed();
    },
    onRollback: (rollback) => {
      pending.delete(rollback.hashedStepId);
      rollbacks.push(rollback);
      changed();
    },
    onRedirect: (redirect) => {
      redirects.push(redirect);
      changed();
    },
    onReconnect: ({ error }) => {
      reconnects.push(error.status === undefined ? error.code : `${error.code} ${error.status}`);
      changed();
    },
    onResult: (result) => {
      results.push(result);
      changed();
    },
  };
  return {
    options,
    committed,
    pending,
    rollbacks,
    redirects,
    results,
    reconnects,
    get resumeUrl() {
      return resumeUrl;
    },
  };
}

it("a poison step that SIGKILLs its process runs retries + 1 = 3 times across restarts, then the run fails with STEP_CRASHED; the service stays up", async () => {
  directory = mkdtempSync(join(tmpdir(), "durastream-poison-"));
  const path = join(directory, "runs.sqlite");
  // The supervisor: whenever the server dies, a new one starts on the same file and port.
  const processes: ServerProcess[] = [];
  let supervising = true;
  cleanups.push(() => (supervising = false));
  const supervise = async (port: number): Promise<ServerProcess> => {
    const server = await startServer(path, port);
    processes.push(server);
    changed();
    void server.exited.then(() => {
      if (supervising) supervise(server.port).catch((error: unknown) => console.error("supervisor: the restart failed", error));
    });
    return server;
  };
  const first = await supervise(0);
  const { port } = first;

  const client = recordingClient();
  const live = fetchWithStream(`http://127.0.0.1:${port}/boom`, client.options);
  live.catch(() => {}); // awaited below; this only keeps a failed test from adding an unhandled rejection
  // Attempt 1 kills its process only once the client is connected (it has the resume URL).
  await until(() => client.resumeUrl !== null && first.count("boom attempt 1") === 1);
  // (Its answer may be cut off by the SIGKILL it triggers.)
  await fetch(`http://127.0.0.1:${port}/release-boom`, { method: "POST" })
    .then((answer) => answer.text())
    .catch(() => "");

  const response = await live;
  expect(response.status).toBe(500);
  const body = await response.text();
  expect(body).toContain('Step "boom" failed after 3 attempts');
  expect(body).toContain("crashed its process");
  expect(client.results.map((result) => result.status)).toEqual(["failed"]);

  // Exactly three attempts ran, one per process; each of those processes died by its own SIGKILL.
  expect(processes.length).toBe(4);
  expect(processes.map((server) => server.lines.filter((line) => line.startsWith("boom attempt")))).toEqual([
    ["boom attempt 1"],
    ["boom attempt 2"],
    ["boom attempt 3"],
    [],
  ]);
  for (const server of processes.slice(0, 3)) expect(await server.exited).toEqual({ code: null, signal: "SIGKILL" });
  // Every interrupted attempt was rolled back, though none streamed anything: attempts 1 and 2
  // will be retried, 3 will not; then the step fails for good (STEP_CRASHED, in the result).
  expect(client.rollbacks.map(({ attempt, willRetry, error }) => [attempt, willRetry, error.name])).toEqual([
    [1, true, "InterruptedError"],
    [2, true, "InterruptedError"],
    [3, false, "InterruptedError"],
  ]);
  expect(client.committed).toEqual([]);

  // The service is up: another endpoint answers, from the fourth process.
  const last = processes[3]!;
  const other = recordingClient();
  const hello = await fetchWithStream(`http://127.0.0.1:${port}/hello`, other.options);
  expect(hello.status).toBe(200);
  expect(await hello.json()).toEqual({ greeting: "hi" });
  expect(other.committed).toEqual(["hi"]);
  expect(other.rollbacks).toEqual([]);
  expect(last.lines.filter((line) => line.startsWith("hello attempt"))).toEqual(["hello attempt 1"]);

  // Two more looks for due runs: a whole poll interval went by with the run settled; no 4th attempt.
  const polls = last.count("poll ");
  await until(() => last.count("poll ") >= polls + 2);
  expect(last.lines.filter((line) => line.startsWith("poll ")).slice(polls)).toEqual(Array(last.count("poll ") - polls).fill("poll 0")); // nothing left to resume
  expect(processes.flatMap((server) => server.lines.filter((line) => line.startsWith("boom attempt")))).toEqual([
    "boom attempt 1",
    "boom attempt 2",
    "boom attempt 3",
  ]);
  expect(processes.length).toBe(4);
  expect(last.child.exitCode).toBe(null);
  supervising = false;
}, 60_000);

/** A raw HTTP/1.1 connection, to send a request on a connection that was open before SIGTERM. */
function rawConnection(port: number) {
  const socket: Socket = connect(port, "127.0.0.1");
  cleanups.push(() => socket.destroy());
  let received = "";
  let closed = false;
  socket.setEncoding("utf8");
  socket.on("data", (text: string) => {
    received += text;
    changed();
  });
  socket.on("close", () => {
    closed = true;
    changed();
  });
  socket.on("error", () => {});
  return {
    send: (text: string) => socket.write(text),
    get received() {
      return received;
    },
    get closed() {
      return closed;
    },
  };
}

/** Resolves with how the process ended, or "still running" after `ms` (a failure bound only). */
function exitWithin(server: ServerProcess, ms: number) {
  return Promise.race([server.exited, new Promise<"still running">((resolve) => setTimeout(() => resolve("still running"), ms).unref())]);
}

/** A client that opens a new connection for every request (`Connection: close`). */
const connectionPerRequest: FetchFunction = (input, init) => {
  const headers = new Headers(init?.headers);
  headers.set("connection", "close");
  return fetch(input, { ...init, headers });
};

/**
 * A client that keeps connections alive, as browsers do, and reads the whole body of an answer
 * that is not a stream (an error page), so its connection goes back to the pool and is reused.
 */
const keepAliveReadingBodies: FetchFunction = async (input, init) => {
  const response = await fetch(input, init);
  if (response.headers.get("content-type")?.startsWith("text/event-stream") === true) return response;
  const body = await response.arrayBuffer();
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
};

it("SIGTERM mid-step with the README snippet: the running step finishes, new requests get 503, the live client is redirected (shutdown), the process exits; restarted, the run goes on and the client ends with the committed output once", async () => {
  directory = mkdtempSync(join(tmpdir(), "durastream-sigterm-"));
  const path = join(directory, "runs.sqlite");
  const first = await startServer(path, 0);
  const { port } = first;

  // (Connections kept alive across the shutdown are the next test's subject.)
  const client = recordingClient(connectionPerRequest);
  const live = fetchWithStream(`http://127.0.0.1:${port}/slow`, client.options);
  live.catch(() => {}); // awaited below; this only keeps a failed test from adding an unhandled rejection
  await until(() => first.count("middle waiting") === 1 && client.pending.size === 1);
  expect(client.committed).toEqual(["one "]);
  expect([...client.pending.values()]).toEqual([["two "]]);

  // A keep-alive connection busy with a request when SIGTERM comes, so server.close() keeps it.
  const connection = rawConnection(port);
  connection.send(`GET /hold HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  await until(() => first.count("holding") === 1);

  first.child.kill("SIGTERM");
  await until(() => connection.received.endsWith("\r\n0\r\n\r\n") || connection.closed);
  expect(connection.received).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\nconnection: keep-alive\r\n[\s\S]*\r\n\r\n4\r\nheld\r\n0\r\n\r\n$/i);
  // While the process drains (step "middle" is still running: it waits for this very refusal),
  // a new request gets 503 with Retry-After.
  const sent = connection.received.length;
  connection.send(`POST /hello HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
  await until(() => connection.closed);
  const refusal = connection.received.slice(sent);
  expect(refusal).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
  expect(refusal.toLowerCase()).toContain("\r\nretry-after: 1\r\n");
  expect(first.lines.indexOf("refused 503")).toBeGreaterThan(-1);
  expect(first.lines.indexOf("refused 503")).toBeLessThan(first.lines.indexOf("middle done"));

  // The step in flight finished and committed; the live client got it, then a shutdown redirect.
  await until(() => client.redirects.length > 0);
  expect(client.redirects.map((redirect) => redirect.reason)).toEqual(["shutdown"]);
  expect(client.redirects[0]!.url).toBe(client.resumeUrl);
  expect(client.committed).toEqual(["one ", "two "]);
  expect(client.pending.size).toBe(0);

  // The process ends by itself (the snippet does not call process.exit: nothing may keep it alive).
  const exit = await exitWithin(first, 20_000);
  expect(exit, `after SIGTERM the process printed ${JSON.stringify(first.lines.filter((line) => !line.startsWith("poll ")))}`).toEqual({
    code: 0,
    signal: null,
  });
  expect(first.lines.filter((line) => !line.startsWith("poll ") && line !== "holding")).toEqual([
    `listening ${port}`,
    "first attempt 1",
    "middle attempt 1",
    "middle waiting",
    "sigterm",
    "refused 503",
    "middle done",
    "store closed",
  ]);

  // Restarted on the same file and port: the run is taken over at once and finished; the client,
  // retrying meanwhile (503, then connection refused), reads the rest.
  const second = await startServer(path, port);
  const response = await live;
  expect(response.status).toBe(201);
  expect(await response.json()).toEqual({ first: "one", middle: "two", last: "three" });
  expect(client.committed).toEqual(["one ", "two ", "three"]);
  expect(client.pending.size).toBe(0);
  expect(client.rollbacks).toEqual([]);
  expect(client.results.map((result) => result.status)).toEqual(["succeeded"]);
  expect(client.redirects.map((redirect) => redirect.reason)).toEqual(["shutdown"]);
  // Only the step that had not started ran in the new process.
  expect(second.lines.filter((line) => /^(first|middle|last) /.test(line))).toEqual(["last attempt 1"]);
  second.child.kill("SIGTERM");
  expect(await second.exited).toEqual({ code: 0, signal: null });
}, 60_000);

it("SIGTERM while a keep-alive client follows the shutdown redirect: its reused connection does not keep the shut-down process alive; restarted, the client finishes", async () => {
  directory = mkdtempSync(join(tmpdir(), "durastream-sigterm-keepalive-"));
  const path = join(directory, "runs.sqlite");
  const env = { MIDDLE_FINISHES_ON: "sigterm" };
  const first = await startServer(path, 0, env);
  const { port } = first;

  const client = recordingClient(keepAliveReadingBodies);
  const live = fetchWithStream(`http://127.0.0.1:${port}/slow`, client.options);
  live.catch(() => {}); // awaited below; this only keeps a failed test from adding an unhandled rejection
  await until(() => first.count("middle waiting") === 1 && client.pending.size === 1);

  first.child.kill("SIGTERM");
  await until(() => client.redirects.length > 0);
  expect(client.redirects.map((redirect) => redirect.reason)).toEqual(["shutdown"]);
  expect(client.committed).toEqual(["one ", "two "]);

  // The client retries every 100 ms; the process must still end by itself (the shutdown is over
  // within milliseconds here: the store is closed and no run is left).
  const exit = await exitWithin(first, 15_000);
  expect(
    exit,
    `15 s after SIGTERM the process has not exited; it printed ${JSON.stringify(first.lines.filter((line) => !line.startsWith("poll ")))}, ` +
      `and the client's connection attempts since the redirect failed with ${JSON.stringify(summarize(client.reconnects))}`,
  ).toEqual({ code: 0, signal: null });

  const second = await startServer(path, port, env);
  const response = await live;
  expect(response.status).toBe(201);
  expect(client.committed).toEqual(["one ", "two ", "three"]);
  expect(client.rollbacks).toEqual([]);
  expect(second.lines.filter((line) => /^(first|middle|last) /.test(line))).toEqual(["last attempt 1"]);
  second.child.kill("SIGTERM");
  expect(await exitWithin(second, 15_000)).toEqual({ code: 0, signal: null });
}, 60_000);

/** ["A", "A", "B"] as { A: 2, B: 1 }. */
function summarize(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}
