// Faults of whole app instances on one Redis, with real child processes (src/instance-server.fixture.ts)
// on real loopback HTTP: a poison step that kills its process on every attempt (restarted by a
// supervisor, as a process manager would), and a graceful SIGTERM handover behind a load balancer.
import { spawn, type ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import { once } from "node:events";
import { Agent, request as httpRequest, type IncomingMessage } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { fetchWithStream, resumeStream, type FetchWithStreamOptions } from "@durastream/client";
import { afterEach, describe, expect, it } from "vitest";
import { deleteKeys, redisUrlForTests, skipWithoutRedis, uniquePrefix } from "./redis-test-support.js";

const packageDirectory = dirname(dirname(fileURLToPath(import.meta.url)));
const url = await redisUrlForTests();
/** The fixture's resume-token secret (createDurable({ secret }) in instance-server.fixture.ts). */
const SECRET = "multi-instance-test-secret";

/** Cleanup of the running test: children killed, supervisors stopped, balancers closed, keys deleted. */
const cleanups: (() => void | Promise<void>)[] = [];
/** Set while a test is cleaned up: supervisors restart nothing then. */
let tearingDown = false;
afterEach(async () => {
  tearingDown = true;
  // A cleanup may register more (an instance a supervisor was restarting): run until none is left.
  while (cleanups.length > 0) for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  tearingDown = false;
});

interface Instance {
  readonly name: string;
  readonly child: ChildProcess;
  readonly port: number;
  readonly lines: string[];
  /** When (performance.now()) each line of `lines` arrived. */
  readonly times: number[];
  /** Resolves once a line starting with `match` is printed (at once if one was). */
  until(match: string): Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startInstance(name: string, environment: Record<string, string>, onLine?: (line: string) => void): Promise<Instance> {
  const child = spawn(process.execPath, ["--conditions=@durastream/source", "--import", "tsx", "src/instance-server.fixture.ts"], {
    cwd: packageDirectory,
    env: { ...process.env, NAME: name, REDIS_URL: url!, ...environment },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  });
  const lines: string[] = [];
  const times: number[] = [];
  const waiters: { match: string; resolve: () => void }[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(line);
    times.push(performance.now());
    onLine?.(line);
    for (const waiter of waiters.filter((candidate) => line.startsWith(candidate.match))) waiter.resolve();
  });
  const until = (match: string) =>
    lines.some((line) => line.startsWith(match)) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ match, resolve }));
  await Promise.race([
    until("listening "),
    exited.then(({ code, signal }) => Promise.reject(new Error(`instance ${name} exited (${code ?? signal}) before listening`))),
  ]);
  return { name, child, lines, times, until, exited, port: Number(lines.find((line) => line.startsWith("listening "))!.split(" ")[1]) };
}

/**
 * Keeps an instance running like a process manager: when it is killed (SIGKILL), a new one is
 * started with the same name and environment (on a new port). `lines` holds what every
 * incarnation printed, in order; `timeline` gets them too, interleaved with other instances' lines.
 */
function supervise(name: string, environment: Record<string, string>, timeline: string[]) {
  const lines: string[] = [];
  let restarts = 0;
  let latest: Promise<Instance> | undefined;
  let current: Instance | undefined;
  const start = (): Promise<Instance> => {
    latest = startInstance(name, environment, (line) => {
      lines.push(line);
      timeline.push(line);
    }).then((instance) => {
      current = instance;
      void instance.exited.then(({ signal }) => {
        current = undefined;
        if (tearingDown || signal !== "SIGKILL") return;
        restarts += 1;
        void start().catch((error: unknown) => {
          if (!tearingDown) console.error(`restarting ${name} failed`, error);
        });
      });
      return instance;
    });
    return latest;
  };
  return {
    name,
    lines,
    start,
    /** The incarnation running now (undefined while it restarts). */
    get current(): Instance | undefined {
      return current;
    },
    /** The incarnation running now, or the one starting. */
    up: (): Promise<Instance> => (current !== undefined ? Promise.resolve(current) : latest!),
    get restarts() {
      return restarts;
    },
  };
}

/**
 * A tiny TCP load balancer: each new connection goes to the first backend that accepts it
 * (instances that refuse, being stopped or dead, are skipped), and stays with it.
 */
async function startBalancer(backends: () => readonly { name: string; port: number }[]) {
  const sockets = new Set<Socket>();
  /** Which backend each connection went to, in order. */
  const routed: string[] = [];
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => client.destroy());
    client.pause();
    const candidates = [...backends()];
    const next = (index: number): void => {
      if (client.destroyed) return;
      const backend = candidates[index];
      if (backend === undefined) {
        routed.push("none");
        client.destroy();
        return;
      }
      const upstream = connect(backend.port, "127.0.0.1");
      sockets.add(upstream);
      upstream.on("close", () => sockets.delete(upstream));
      const refused = () => {
        upstream.destroy();
        next(index + 1);
      };
      upstream.once("error", refused);
      upstream.once("connect", () => {
        upstream.removeListener("error", refused);
        routed.push(backend.name);
        upstream.on("error", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
        client.on("close", () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    next(0);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const balancer = {
    port: (server.address() as { port: number }).port,
    routed,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  cleanups.push(() => balancer.close());
  return balancer;
}

/** The wait endpoint URL of a run, with a resume token signed as the fixture signs them. */
function waitUrl(port: number, runId: string): string {
  const expiry = Math.ceil((Date.now() + 3_600_000) / 1000);
  const signature = createHmac("sha256", SECRET).update(`${runId}.${expiry}`).digest("base64url");
  return `http://127.0.0.1:${port}/api/durable/${runId}?token=${expiry}.${signature}`;
}

/**
 * A UI's view of a run: committed chunks, uncommitted per step, rollbacks and redirects.
 * `onChange` is called after each callback.
 */
function view(onChange: () => void = () => {}) {
  const state = {
    committed: [] as unknown[],
    pending: new Map<string | null, unknown[]>(),
    rollbacks: [] as { attempt: number; willRetry: boolean; name: string; message: string }[],
    redirects: [] as string[],
    /** The committed output when each redirect arrived. */
    committedAtRedirect: [] as unknown[][],
    commits: 0,
    lastOffset: undefined as string | undefined,
  };
  const callbacks: FetchWithStreamOptions = {
    onData: ({ data, hashedStepId, offset }) => {
      state.pending.set(hashedStepId, [...(state.pending.get(hashedStepId) ?? []), data]);
      state.lastOffset = offset;
      onChange();
    },
    onCommit: ({ hashedStepId, offset }) => {
      state.committed.push(...(state.pending.get(hashedStepId) ?? []));
      state.pending.delete(hashedStepId);
      state.commits += 1;
      state.lastOffset = offset;
      onChange();
    },
    onRollback: ({ hashedStepId, attempt, willRetry, error, offset }) => {
      state.pending.delete(hashedStepId);
      state.rollbacks.push({ attempt, willRetry, name: error.name, message: error.message });
      state.lastOffset = offset;
      onChange();
    },
    onRedirect: ({ reason }) => {
      state.redirects.push(reason);
      state.committedAtRedirect.push([...state.committed]);
      onChange();
    },
  };
  return { state, callbacks };
}

/** `until(condition)` resolves once `condition` holds, checked at every `check()` (no clock). */
function watch() {
  const checks: { condition: () => boolean; resolve: () => void }[] = [];
  return {
    check() {
      for (const entry of checks.filter(({ condition }) => condition())) {
        checks.splice(checks.indexOf(entry), 1);
        entry.resolve();
      }
    },
    until(condition: () => boolean): Promise<void> {
      return condition() ? Promise.resolve() : new Promise((resolve) => checks.push({ condition, resolve }));
    },
  };
}

/** Sends a request with node:http (so the test controls the connection) and reads the whole answer. */
async function send(
  port: number,
  path: string,
  options: { agent: Agent; method?: string; body?: string; beforeEnd?: () => Promise<void> },
): Promise<{ status: number; headers: IncomingMessage["headers"]; body: string; reusedSocket: boolean }> {
  const request = httpRequest({
    host: "127.0.0.1",
    port,
    path,
    method: options.method ?? "POST",
    agent: options.agent,
    headers: { "content-type": "application/json" },
  });
  const answered = once(request, "response") as Promise<[IncomingMessage]>;
  request.flushHeaders();
  if (options.beforeEnd !== undefined) {
    request.write("part one;");
    await options.beforeEnd();
  }
  request.end(options.body ?? "{}");
  const [response] = await answered;
  let body = "";
  response.setEncoding("utf8");
  for await (const piece of response) body += piece as string;
  return { status: response.statusCode!, headers: response.headers, body, reusedSocket: request.reusedSocket };
}

if (url === undefined) skipWithoutRedis();

describe.skipIf(url === undefined)("instance faults on one Redis", () => {
  it("a step that kills its process on every attempt runs retries + 1 = 3 times across restarted instances, then the run fails with STEP_CRASHED", async () => {
    const prefix = uniquePrefix("instance-poison");
    cleanups.push(() => deleteKeys(url!, prefix));
    // Short leases so each takeover comes about a second after a crash; frequent polls to find it.
    const environment = { PREFIX: prefix, LEASE: "1000", POLL: "200" };
    const timeline: string[] = [];
    const a = supervise("A", environment, timeline);
    const b = supervise("B", environment, timeline);
    await Promise.all([a.start(), b.start()]);
    const alive = () => [a.current, b.current].filter((instance): instance is Instance => instance !== undefined);
    const balancer = await startBalancer(() => alive().map(({ name, port }) => ({ name, port })));

    // Started on A; A dies inside attempt 1, before or after its response began.
    const first = a.current!;
    void fetchWithStream(`http://127.0.0.1:${first.port}/poison`, { fetchOpts: { method: "POST", body: "{}" }, reconnect: false }).catch(() => {});
    await first.until("run ");
    const runId = first.lines.find((line) => line.startsWith("run "))!.split(" ")[1]!;
    await first.exited;

    // The wait endpoint (behind the balancer, on whichever instance is up) long-polls until the
    // run has its result; a poll cut by a crash is sent again.
    let final: Response | undefined;
    while (final === undefined) {
      const answer = await fetch(waitUrl(balancer.port, runId)).catch(() => undefined);
      if (answer !== undefined && answer.status !== 202 && answer.status !== 503) final = answer;
      else if (answer !== undefined) await answer.body?.cancel();
      // No instance up (both restarting): ask again in a moment.
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(final.status).toBe(500);
    const failure = await final.text();
    expect(failure).toContain("crashed its process");
    expect(failure).toContain('Step "boom"');

    const attempts = () => timeline.filter((line) => line.startsWith("executing boom attempt"));
    expect(attempts().map((line) => Number(line.split(" ")[3]))).toEqual([1, 2, 3]);
    expect(a.restarts + b.restarts).toBe(3);

    // The whole log, replayed through the wait endpoint: each interrupted attempt was rolled back
    // (nothing was streamed in it), then the step failed for good.
    const { state, callbacks } = view();
    const replayed = await resumeStream(waitUrl(balancer.port, runId), callbacks);
    expect(replayed.status).toBe(500);
    expect(await replayed.text()).toContain("crashed its process");
    expect(state.rollbacks.map(({ attempt, name }) => [attempt, name])).toEqual([
      [1, "InterruptedError"],
      [2, "InterruptedError"],
      [3, "InterruptedError"],
    ]);
    // The step's own retries (2) decide: attempt 3 does not run again, though the endpoint allows 3.
    expect(state.rollbacks.map(({ willRetry }) => willRetry)).toEqual([true, true, false]);
    expect(state.committed).toEqual([]);

    // Both instances (restarted as needed) still serve other runs.
    for (const instance of await Promise.all([a.up(), b.up()])) {
      const short = view();
      const response = await fetchWithStream(`http://127.0.0.1:${instance.port}/short?n=${instance.name}`, {
        ...short.callbacks,
        fetchOpts: { method: "POST", body: "{}" },
      });
      expect(await response.json()).toEqual({ n: instance.name, on: instance.name });
      expect(short.state.committed).toEqual([`${instance.name}:a `, `${instance.name}:b`]);
    }
    // No fourth attempt, and no instance was killed since.
    expect(attempts()).toHaveLength(3);
    expect(a.restarts + b.restarts).toBe(3);

    // The protocol: `willRetry` tells whether the step runs again. Attempt 3 (the step has
    // retries: 2) does not run again, so its takeover rollback must not announce a retry.
    expect.soft(state.rollbacks[2]?.willRetry, "willRetry of the takeover rollback of attempt 3, the last one").toBe(false);
  }, 45_000);

  it("SIGTERM: A finishes its running step, releases the run and redirects its client (shutdown), which B goes on with at once through the load balancer", async () => {
    const prefix = uniquePrefix("instance-handover");
    cleanups.push(() => deleteKeys(url!, prefix));
    // The default 30 s lease: B can only take over this quickly because A releases the run.
    const a = await startInstance("A", { PREFIX: prefix });
    const b = await startInstance("B", { PREFIX: prefix });
    const balancer = await startBalancer(() => [a, b].map(({ name, port }) => ({ name, port })));

    // The client, through the balancer, lands on A (the first backend, accepting).
    const events = watch();
    const { state, callbacks } = view(events.check);
    const live = fetchWithStream(`http://127.0.0.1:${balancer.port}/handover`, { ...callbacks, fetchOpts: { method: "POST", body: "{}" } });
    await a.until("executing first on A");
    await events.until(() => state.pending.size > 0); // "one " arrived, uncommitted
    expect(balancer.routed).toEqual(["A"]);

    // A connection straight to A with a request in progress (as a balancer's pooled connection):
    // its upload is under way when SIGTERM comes.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    let sigterm = 0;
    const upload = send(a.port, "/upload", {
      agent,
      beforeEnd: async () => {
        await a.until("receiving upload on A");
        sigterm = performance.now();
        a.child.kill("SIGTERM");
        await a.until("shutting down");
      },
    });
    expect((await upload).status).toBe(200);

    // During the drain (step "first" is still running): a new request on that connection gets 503 + Retry-After.
    const refused = await send(a.port, "/short?n=late", { agent });
    expect(refused.reusedSocket).toBe(true);
    expect(refused.status).toBe(503);
    expect(refused.headers["retry-after"]).toBe("1");
    expect(refused.body).toContain("shutting down");
    agent.destroy();
    expect(state.commits).toBe(0);
    expect(a.lines).not.toContain("closed");

    // The running step is let finish: its commit reaches the client, then the redirect (shutdown).
    const released = performance.now();
    a.child.kill("SIGUSR2");
    await a.until("first released on A");
    await b.until("executing second on B");
    const handover = performance.now() - sigterm;
    console.log(
      `[handover] SIGTERM on A -> B executing step "second": ${handover.toFixed(0)} ms (of which ${(performance.now() - released).toFixed(0)} ms after A's step was let finish; lease 30 000 ms); balancer connections: ${balancer.routed.join(", ")}`,
    );
    expect(handover).toBeLessThan(5_000);

    const response = await live;
    expect(await response.json()).toEqual({ first: "one two ", second: "three", finishedOn: "B" });
    expect(state.committed).toEqual(["one ", "two ", "three"]);
    expect(state.pending.size).toBe(0);
    expect(state.rollbacks).toEqual([]);
    expect(state.redirects).toEqual(["shutdown"]);
    expect(state.committedAtRedirect).toEqual([["one ", "two "]]); // A's commit of "first" came before its redirect
    expect(a.lines.filter((line) => line.startsWith("executing"))).toEqual(["executing first on A"]);
    expect(b.lines.filter((line) => line.startsWith("executing"))).toEqual(["executing second on B"]);
    expect(balancer.routed.slice(1)).not.toContain("A"); // A took no new connection after SIGTERM

    // A exits by itself once it has handed over.
    expect(await a.exited).toEqual({ code: 0, signal: null });
    const closedAt = a.times[a.lines.indexOf("closed")]!;
    console.log(
      `[handover] A: durable.close() done ${(closedAt - sigterm).toFixed(0)} ms after SIGTERM, process exited by itself after ${(performance.now() - sigterm).toFixed(0)} ms`,
    );
    expect(a.lines.slice(-1)).toEqual(["closed"]);
  }, 45_000);
});
