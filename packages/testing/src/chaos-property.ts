// A randomized chaos test of the engine against a store (see `defineChaosProperty`).
//
// How a case runs:
// - "Processes" are in-process instances: each its own `createDurable` on its own `FaultyStore`
//   over one shared store (counted by `InFlightStore`). Killing one = `faulty.kill()` plus dropping
//   the HTTP responses it serves; SIGTERM = `durable.close({ timeout })`. Either starts a new
//   instance first, which takes all new traffic.
// - The client talks HTTP to a front server (a load balancer) that forwards every request to the
//   current instance; a request to a dead or closing instance is a violation.
// - One manual clock drives every instance. It ticks by `TICK` whenever no store call is in flight
//   (so a networked store answers "at once" on that clock), and races ahead of real time otherwise;
//   work off that clock (Web Crypto, HTTP) takes real time, so "stuck" needs both clocks to pass.
// - A POST whose connection dies before the client learns its run (a fault at boundary 0) is sent
//   again, as a user would: the first run goes on in the background and is checked too.
import { AsyncLocalStorage } from "node:async_hooks";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fetchWithStream, resumeStream, type FetchWithStreamOptions, type StreamResult } from "@durastream/client";
import { decodeEvent, hashStepId, type Frame, type ResultFrame } from "@durastream/protocol";
import fc from "fast-check";
import { afterAll, beforeAll, describe, it } from "vitest";
import { createDurable, step, stream, type BackgroundError, type Durable, type DurableHandler, type WebHandler } from "@durastream/server";
import { serveEndpoint } from "@durastream/server/node";
import {
  readRunSummary,
  type AppendEffects,
  type DurableEvent,
  type FrameToAppend,
  type LogEntry,
  type NewRun,
  type ResumableCursor,
  type ResumableRun,
  type RunRecord,
  type RunStore,
  type RunSummary,
  type StepRecord,
} from "@durastream/server/store";
import { FaultyStore } from "./faulty-store.js";
import { createManualTimers, type ManualTimers, committedData } from "./helpers.js";

// ---------------------------------------------------------------------------------------------
// Programs and fault schedules
// ---------------------------------------------------------------------------------------------

/** One step of a generated program. */
interface StepSpec {
  /** Chunks a successful attempt streams. */
  readonly chunks: number;
  /** Attempts (1–3) that throw; with retries 3, attempt 4 always succeeds. */
  readonly failOn: readonly number[];
  /** Chunks a failing attempt streams before it throws. */
  readonly failAfter: number;
  /** Manual-clock milliseconds before each chunk (a step that takes time, so faults land inside it). */
  readonly gap: number;
  /** A sleep after the step, longer than `maxInlineWait`: the run suspends and the client is redirected. */
  readonly sleepAfter: boolean;
}

interface Program {
  readonly steps: readonly StepSpec[];
}

/**
 * Where a fault fires: when the client has seen its `at`-th data chunk; when the handler first
 * reaches boundary `at` (before step `at`; `steps.length` is after the last step); or right after
 * the handler's `at`-th `stream.push` over all executions (inside a step attempt).
 */
type Trigger = { readonly on: "chunk" | "boundary" | "push"; readonly at: number };

/** Which appends a `fail-append` fault fails (never reaching the store). */
type AppendKind = "data" | "commit" | "rollback" | "result" | "attempt-start";

type Fault =
  /** Every process's store calls fail for `ms` (manual clock), then the store is back. */
  | { readonly type: "outage"; readonly ms: number }
  /** Every process's store calls hang for `ms`, then go through in order. */
  | { readonly type: "pause"; readonly ms: number }
  /** The executing process's next `count` appends of that kind fail without reaching the store. */
  | { readonly type: "fail-append"; readonly frames: AppendKind; readonly count: number }
  /** The executing process's next `count` commit appends land, then reject (a lost reply). */
  | { readonly type: "ambiguous-commit"; readonly count: number }
  /** The executing process's next `count` lease renewals fail (20: the lease expires). */
  | { readonly type: "renew-fail"; readonly count: number }
  /** The executing process dies (its store calls never settle, its connections drop); a new process starts. */
  | { readonly type: "kill" }
  /** SIGTERM: a new process starts, the executing one runs `durable.close({ timeout })`. */
  | { readonly type: "sigterm"; readonly timeout: number }
  /** Every client connection drops (the client reconnects by itself). */
  | { readonly type: "drop" }
  /** The page reloads: the client resumes from what it persisted. */
  | { readonly type: "reload" };

interface ScheduledFault {
  readonly trigger: Trigger;
  readonly fault: Fault;
}

interface ChaosCase {
  readonly program: Program;
  readonly faults: readonly ScheduledFault[];
}

const stepSpecs: fc.Arbitrary<StepSpec> = fc.record({
  chunks: fc.integer({ min: 1, max: 3 }),
  failOn: fc.subarray([1, 2, 3]),
  failAfter: fc.integer({ min: 0, max: 3 }),
  gap: fc.constantFrom(0, 100, 400),
  sleepAfter: fc.boolean(),
});

const triggers: fc.Arbitrary<Trigger> = fc.oneof(
  fc.record({ on: fc.constant("chunk" as const), at: fc.integer({ min: 1, max: 14 }) }),
  fc.record({ on: fc.constant("boundary" as const), at: fc.integer({ min: 0, max: 4 }) }),
  fc.record({ on: fc.constant("push" as const), at: fc.integer({ min: 1, max: 14 }) }),
);

const faultKinds: fc.Arbitrary<Fault> = fc.oneof(
  fc.record({ type: fc.constant("kill" as const) }),
  fc.record({ type: fc.constant("sigterm" as const), timeout: fc.constantFrom(0, 200, 1000) }),
  fc.record({ type: fc.constant("outage" as const), ms: fc.constantFrom(300, 1500, 5000) }),
  fc.record({ type: fc.constant("pause" as const), ms: fc.constantFrom(300, 1500, 5000) }),
  fc.record({
    type: fc.constant("fail-append" as const),
    frames: fc.constantFrom<AppendKind>("data", "commit", "rollback", "result", "attempt-start"),
    count: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({ type: fc.constant("ambiguous-commit" as const), count: fc.integer({ min: 1, max: 2 }) }),
  fc.record({ type: fc.constant("renew-fail" as const), count: fc.constantFrom(1, 2, 20) }),
  fc.record({ type: fc.constant("drop" as const) }),
  fc.record({ type: fc.constant("reload" as const) }),
);

const chaosCases: fc.Arbitrary<ChaosCase> = fc.record({
  program: fc.record({ steps: fc.array(stepSpecs, { minLength: 1, maxLength: 4 }) }),
  faults: fc.array(fc.record({ trigger: triggers, fault: faultKinds }), { minLength: 1, maxLength: 4 }),
});

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

const RETRIES = 3;
const LEASE_DURATION = 2_000;
const POLL_INTERVAL = 500;
const MAX_INLINE_WAIT = 1_000;
/** A sleep longer than `MAX_INLINE_WAIT`: it suspends the run. */
const SLEEP = 3_000;
/** Manual-clock milliseconds per clock tick. */
const TICK = 100;
/** Manual-clock milliseconds within which the run must be over (far more than any schedule needs). */
const MAX_RUN_CLOCK = 10 * 60_000;
/** Real milliseconds that must pass too before a run that is not over counts as stuck. */
const MIN_REAL_FOR_STUCK = 5_000;
/** Real milliseconds a case may take at most. */
const MAX_REAL = 20_000;
/** Page reloads the client makes at most (more are skipped). */
const MAX_RELOADS = 6;

// ---------------------------------------------------------------------------------------------
// The shared store, with the calls in flight counted
// ---------------------------------------------------------------------------------------------

/**
 * The store every process shares, counting the calls in flight, so that the manual clock moves
 * only while none is (a store over the network then answers "at once" on the manual clock, and a
 * lease never expires just because a reply was on the wire).
 */
class InFlightStore implements RunStore {
  inFlight = 0;
  constructor(readonly inner: RunStore) {}

  #track<T>(call: () => Promise<T>): Promise<T> {
    this.inFlight += 1;
    let result: Promise<T>;
    try {
      result = call();
    } catch (error) {
      result = Promise.reject(error);
    }
    return result.finally(() => {
      this.inFlight -= 1;
    });
  }

  createRun(run: NewRun): Promise<RunRecord> {
    return this.#track(() => this.inner.createRun(run));
  }
  getRun(runId: string): Promise<RunRecord | undefined> {
    return this.#track(() => this.inner.getRun(runId));
  }
  getRunSummary(runId: string): Promise<RunSummary | undefined> {
    return this.#track(() => readRunSummary(this.inner, runId));
  }
  listSteps(runId: string): Promise<StepRecord[]> {
    return this.#track(() => this.inner.listSteps(runId));
  }
  appendFrames(runId: string, epoch: number, frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<string> {
    return this.#track(() => this.inner.appendFrames(runId, epoch, frames, effects));
  }
  readFrames(runId: string, after: string | undefined, limit: number, maxBytes?: number): Promise<LogEntry[]> {
    return this.#track(() => this.inner.readFrames(runId, after, limit, maxBytes));
  }
  subscribe(runId: string, listener: () => void): () => void {
    return this.inner.subscribe(runId, listener);
  }
  claimRun(runId: string, owner: string, leaseExpiresAt: number, now: number): Promise<RunRecord | undefined> {
    return this.#track(() => this.inner.claimRun(runId, owner, leaseExpiresAt, now));
  }
  renewLease(runId: string, owner: string, epoch: number, leaseExpiresAt: number): Promise<boolean> {
    return this.#track(() => this.inner.renewLease(runId, owner, epoch, leaseExpiresAt));
  }
  listResumableRuns(now: number, limit: number, after?: ResumableCursor): Promise<ResumableRun[]> {
    return this.#track(() => this.inner.listResumableRuns(now, limit, after));
  }
  nextWakeAt(after?: number): Promise<number | null> {
    return this.#track(() => this.inner.nextWakeAt(after));
  }
  deliverEvent(event: DurableEvent, now: number): Promise<string[]> {
    return this.#track(() => this.inner.deliverEvent(event, now));
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** A failed check of the property, with the number of the guarantee it breaks. */
class ChaosFailure extends Error {}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const sleepReal = (milliseconds: number) => new Promise<void>((resolve) => setTimeout(resolve, milliseconds));

/** The first attempt of a step that its program does not fail. */
const firstSuccess = (spec: StepSpec) => [1, 2, 3, 4].find((attempt) => !spec.failOn.includes(attempt))!;

/**
 * The committed view a succeeded run must have: each step's chunks exactly once, in program
 * order, all from one attempt the program does not fail. Faults may burn attempts (a killed
 * attempt counts), so the attempt is read from the view itself when it is a plausible one.
 */
function expectedView(program: Program, committed: readonly string[]): { expected: string[]; attempts: number[] } {
  const expected: string[] = [];
  const attempts: number[] = [];
  program.steps.forEach((spec, index) => {
    const match = /^s(\d+)a(\d+)c0$/.exec(committed[expected.length] ?? "");
    const seen = match !== null && Number(match[1]) === index ? Number(match[2]) : undefined;
    const attempt = seen !== undefined && seen >= 1 && seen <= RETRIES + 1 && !spec.failOn.includes(seen) ? seen : firstSuccess(spec);
    attempts.push(attempt);
    for (let chunk = 0; chunk < spec.chunks; chunk += 1) expected.push(`s${index}a${attempt}c${chunk}`);
  });
  return { expected, attempts };
}

const describeFault = (fault: Fault): string => {
  switch (fault.type) {
    case "outage":
    case "pause":
      return `${fault.type} ${fault.ms} ms`;
    case "fail-append":
      return `fail-append ${fault.frames} ×${fault.count}`;
    case "ambiguous-commit":
    case "renew-fail":
      return `${fault.type} ×${fault.count}`;
    case "sigterm":
      return `sigterm (timeout ${fault.timeout} ms)`;
    default:
      return fault.type;
  }
};

const describeTrigger = (trigger: Trigger): string =>
  trigger.on === "chunk" ? `client chunk #${trigger.at}` : trigger.on === "push" ? `server push #${trigger.at}` : `boundary ${trigger.at}`;

function describeCase(input: ChaosCase): string {
  const steps = input.program.steps
    .map(
      (spec, index) =>
        `  step-${index}: ${spec.chunks} chunk(s), gap ${spec.gap} ms, fails on [${spec.failOn.join(",")}] after ${spec.failAfter} chunk(s)${spec.sleepAfter ? ", then sleeps" : ""}`,
    )
    .join("\n");
  const faults = input.faults.map((scheduled) => `  at ${describeTrigger(scheduled.trigger)}: ${describeFault(scheduled.fault)}`).join("\n");
  return `program:\n${steps}\nfaults:\n${faults}`;
}

function describeFrame(frame: Frame, names: ReadonlyMap<string | null, string>): string {
  const name = (hashed: string | null) => names.get(hashed) ?? String(hashed);
  switch (frame.type) {
    case "data":
      return `${frame.offset} data ${name(frame.hashedStepId)} ${String(frame.data)}`;
    case "commit":
      return `${frame.offset} commit ${name(frame.hashedStepId)}`;
    case "rollback":
      return `${frame.offset} rollback ${name(frame.hashedStepId)} attempt ${frame.attempt} ${frame.willRetry ? "(retry)" : "(final)"} ${frame.error.name}: ${frame.error.message}`;
    case "result":
      return `${frame.offset} result ${frame.status} ${frame.response.status} ${frame.response.bodyEncoding === "text" ? frame.response.body : "(base64 body)"}`;
    default:
      return frame.type;
  }
}

/**
 * Checks a run's outcome from its whole log (guarantee 4): one result frame, last, matching the
 * run record; a succeeded run committed each step's chunks exactly once, in order, from an attempt
 * the program does not fail (the first such attempt when no server-side fault fired); a failed run
 * failed because faults burned its attempts (with retries 3 and failures planned on attempts 1–3
 * only, nothing else can fail it). Returns the result frame.
 */
function checkOutcome(program: Program, attemptFaultsFired: number, run: string, log: readonly Frame[], record: RunRecord | undefined): ResultFrame {
  const results = log.filter((frame) => frame.type === "result");
  const last = log.at(-1);
  if (results.length !== 1 || last?.type !== "result")
    throw new ChaosFailure(`(4) run ${run}: the log has ${results.length} result frame(s), and ends with ${last?.type ?? "nothing"}`);
  if (record?.status !== last.status) throw new ChaosFailure(`(4) run ${run}: the run record's status is ${record?.status}, its result frame's ${last.status}`);
  const final = committedData(log).map(String);
  if (last.status === "succeeded") {
    const { expected, attempts } = expectedView(program, final);
    if (JSON.stringify(final) !== JSON.stringify(expected)) {
      throw new ChaosFailure(`(4) run ${run} succeeded with committed view ${JSON.stringify(final)}, expected ${JSON.stringify(expected)}`);
    }
    const planned = program.steps.map(firstSuccess);
    if (attemptFaultsFired === 0 && JSON.stringify(attempts) !== JSON.stringify(planned)) {
      throw new ChaosFailure(
        `(4) run ${run}: without a server-side fault the committed attempts are ${JSON.stringify(attempts)}, expected ${JSON.stringify(planned)}`,
      );
    }
  } else {
    const body = last.response.bodyEncoding === "text" ? last.response.body : "";
    if (attemptFaultsFired === 0) throw new ChaosFailure(`(4) run ${run} failed without any server-side fault: ${body}`);
    if (/\(planned\)$/.test(body) || !/crashed its process|store/i.test(body))
      throw new ChaosFailure(`(4) run ${run} failed for a reason the faults do not explain: ${body}`);
  }
  return last;
}

// ---------------------------------------------------------------------------------------------
// One case
// ---------------------------------------------------------------------------------------------

/** An in-process "instance" (a simulated process): its own `createDurable` on its own `FaultyStore` over the shared store. */
interface Instance {
  readonly index: number;
  readonly faulty: FaultyStore;
  readonly durable: Durable;
  /** Serves the front server's requests forwarded to this instance. */
  readonly listener: (request: IncomingMessage, response: ServerResponse) => void;
  /** Responses this instance is serving now, dropped when it dies. */
  readonly responses: Set<ServerResponse>;
  state: "alive" | "closing" | "closed" | "dead";
  /** `durable.close()` in progress or done. */
  closing?: Promise<void>;
  /** Why it is closing: "sigterm" (a fault) or "end" (the case is over). */
  closedBy?: "sigterm" | "end";
  readonly errors: BackgroundError[];
}

type StoreFactory = () => Promise<{ store: RunStore; close: () => Promise<void> }>;

/** Counts over the cases of one property, printed with `CHAOS_STATS=1`. */
type Statistics = Map<string, number>;
const count = (statistics: Statistics, key: string, by = 1) => statistics.set(key, (statistics.get(key) ?? 0) + by);

async function runCase(factory: StoreFactory, input: ChaosCase, unhandled: unknown[], statistics: Statistics): Promise<void> {
  const unhandledBefore = unhandled.length;
  const { program } = input;
  const { store, close } = await factory();
  const shared = new InFlightStore(store);
  /** Runs a function in the async context of the case's start: outside every run (faults fire as if from elsewhere). */
  const outsideRuns = AsyncLocalStorage.snapshot();
  const timers: ManualTimers = createManualTimers();
  const started = Date.now();
  const trace: string[] = [];
  const note = (text: string) => trace.push(`[t=${timers.now()}, real +${Date.now() - started} ms] ${text}`);
  const names = new Map<string | null, string>([[null, "(outside)"]]);
  for (let index = 0; index < program.steps.length; index += 1) names.set(await hashStepId(`step-${index}`, 0), `step-${index}`);

  // ----- instances -----
  const instances: Instance[] = [];
  let current!: Instance;
  /** The instance that last ran handler code (the one executing the run, unless it stopped since). */
  let executing: Instance | undefined;
  /** Every run the chaos endpoint started (a POST whose connection died before the client learned its run is sent again: the first run goes on unseen). */
  const chaosRuns = new Set<string>();
  /** The run the client follows. */
  let clientRunId: string | undefined;
  const short = (id: string) => `r${id.slice(-4)}`;
  /** Faults act only on the case's run, and only until the case's checks start. */
  let armed = true;
  let outageDepth = 0;
  let pauseDepth = 0;
  const violations: string[] = [];
  const httpErrors: string[] = [];

  const chunkFaults = input.faults.filter((scheduled) => scheduled.trigger.on === "chunk").sort((a, b) => a.trigger.at - b.trigger.at);
  const boundaryFaults = new Map<number, ScheduledFault[]>();
  for (const scheduled of input.faults) {
    if (scheduled.trigger.on === "boundary") boundaryFaults.set(scheduled.trigger.at, [...(boundaryFaults.get(scheduled.trigger.at) ?? []), scheduled]);
  }
  const boundariesReached = new Set<number>();
  const pushFaults = new Map<number, ScheduledFault[]>();
  for (const scheduled of input.faults) {
    if (scheduled.trigger.on === "push") pushFaults.set(scheduled.trigger.at, [...(pushFaults.get(scheduled.trigger.at) ?? []), scheduled]);
  }
  let pushes = 0;
  let faultsFired = 0;
  /** Faults that may cost a step attempt (everything but client-side ones). */
  let attemptFaultsFired = 0;

  const handlerFor =
    (instance: Instance): DurableHandler =>
    async (_request, context) => {
      chaosRuns.add(context.runId);
      executing = instance;
      const run = short(context.runId);
      for (let index = 0; index < program.steps.length; index += 1) {
        boundary(index, instance, run);
        const spec = program.steps[index]!;
        await step.run(`step-${index}`, async ({ attempt }) => {
          executing = instance;
          note(`P${instance.index} ${run} step-${index} attempt ${attempt}`);
          const failing = spec.failOn.includes(attempt);
          const toPush = failing ? Math.min(spec.failAfter, spec.chunks) : spec.chunks;
          for (let chunk = 0; chunk < toPush; chunk += 1) {
            if (spec.gap > 0) await new Promise<void>((resolve) => timers.setTimeout(resolve, spec.gap));
            stream.push(`s${index}a${attempt}c${chunk}`);
            pushed(instance, run);
          }
          if (failing) throw new Error(`step ${index} fails on attempt ${attempt} (planned)`);
          return index;
        });
        if (spec.sleepAfter) await step.sleep(`sleep-${index}`, SLEEP);
      }
      boundary(program.steps.length, instance, run);
      return new Response("done");
    };

  const pingHandler =
    (instance: Instance): DurableHandler =>
    async (request) => {
      const n = Number(new URL(request.url).searchParams.get("n"));
      const doubled = await step.run("double", () => n * 2);
      return Response.json({ doubled, instance: instance.index });
    };

  const startInstance = (): Instance => {
    const faulty = new FaultyStore(shared);
    if (outageDepth > 0) faulty.outage();
    if (pauseDepth > 0) faulty.pause();
    const errors: BackgroundError[] = [];
    const durable = createDurable({
      store: faulty,
      timers,
      retries: RETRIES,
      backoff: () => 0,
      maxInlineWait: MAX_INLINE_WAIT,
      leaseDuration: LEASE_DURATION,
      pollInterval: POLL_INTERVAL,
      // The manual clock may run far ahead of real time; resume URLs must not expire meanwhile.
      resumeTokenTtl: 365 * 24 * 3_600_000,
      onError: (report) => errors.push(report),
    });
    const instance = { index: instances.length, faulty, durable, responses: new Set(), state: "alive", errors } as unknown as Instance;
    const endpoint: WebHandler = durable.endpoint(handlerFor(instance), { id: "chaos" });
    const ping: WebHandler = durable.endpoint(pingHandler(instance), { id: "ping" });
    const proxy: WebHandler = durable.waitEndpoint();
    const route = (request: Request): Promise<Response> => {
      const path = new URL(request.url).pathname;
      if (path.startsWith("/api/durable/")) return proxy(request);
      return path === "/ping" ? ping(request) : endpoint(request);
    };
    (instance as { listener: Instance["listener"] }).listener = serveEndpoint(route, {
      onError: ({ error, phase }) => httpErrors.push(`P${instance.index} ${phase}: ${String(error)}`),
    });
    instances.push(instance);
    current = instance;
    note(`P${instance.index} starts`);
    return instance;
  };

  /** The instance a fault aimed at "the executing instance" hits: the one running the run, else the current one. */
  const target = (): Instance => (executing !== undefined && (executing.state === "alive" || executing.state === "closing") ? executing : current);

  const kill = (instance: Instance) => {
    if (instance.state === "dead") return;
    // A new instance takes the traffic before this one dies: no request ever reaches a dead instance.
    if (instance === current) startInstance();
    instance.state = "dead";
    instance.faulty.kill();
    for (const response of instance.responses) response.destroy();
    note(`P${instance.index} killed`);
  };

  const sigterm = (instance: Instance, timeout: number) => {
    if (instance.state !== "alive") return;
    if (instance === current) startInstance();
    instance.state = "closing";
    instance.closedBy = "sigterm";
    note(`P${instance.index} gets SIGTERM: durable.close({ timeout: ${timeout} })`);
    instance.closing = instance.durable.close({ timeout }).then(
      () => {
        note(`P${instance.index} closed`);
        if (instance.state === "closing") instance.state = "closed";
      },
      (error: unknown) => {
        violations.push(`(2) P${instance.index}'s durable.close() rejected: ${String(error)}`);
      },
    );
  };

  const live = () => instances.filter((instance) => instance.state !== "dead");
  const runFilter = (id: string) => armed && chaosRuns.has(id);
  const appendFilter = (kind: AppendKind) => (id: string, _epoch: number, frames: readonly FrameToAppend[], effects?: AppendEffects) => {
    if (!runFilter(id)) return false;
    if (kind === "attempt-start") return frames.length === 0 && effects?.step?.kind === "run" && effects.step.status === "running";
    return frames.some((frame) => frame.type === kind);
  };

  // ----- the client's state (a UI), declared before the faults that act on it -----
  let committed: string[] = [];
  let pending = new Map<string | null, string[]>();
  const snapshots: string[][] = [];
  let dataSeen = 0;
  let resumeUrl: string | null = null;
  let clientResult: StreamResult | undefined;
  let safe = { offset: undefined as string | undefined, committed: 0 };
  let controller = new AbortController();
  let reloading: AbortController | null = null;
  let reloads = 0;
  let timedOut: string | undefined;

  let server!: ReturnType<typeof createServer>;

  const fire = (scheduled: ScheduledFault) => {
    const { fault } = scheduled;
    if (!armed) return;
    faultsFired += 1;
    count(statistics, `fault fired: ${fault.type}`);
    if (fault.type !== "drop" && fault.type !== "reload") attemptFaultsFired += 1;
    note(`fault at ${describeTrigger(scheduled.trigger)}: ${describeFault(fault)} (executing: P${target().index}, current: P${current.index})`);
    switch (fault.type) {
      case "outage":
        outageDepth += 1;
        for (const instance of live()) instance.faulty.outage();
        timers.setTimeout(() => {
          outageDepth = Math.max(0, outageDepth - 1);
          if (outageDepth === 0) {
            note("store back (outage over)");
            for (const instance of instances) instance.faulty.restore();
          }
        }, fault.ms);
        break;
      case "pause":
        pauseDepth += 1;
        for (const instance of live()) instance.faulty.pause();
        timers.setTimeout(() => {
          pauseDepth = Math.max(0, pauseDepth - 1);
          if (pauseDepth === 0) {
            note("store resumed (pause over)");
            for (const instance of instances) instance.faulty.resume();
          }
        }, fault.ms);
        break;
      case "fail-append":
        target().faulty.failNext("appendFrames", fault.count, appendFilter(fault.frames));
        break;
      case "ambiguous-commit":
        target().faulty.failAfterNext("appendFrames", fault.count, appendFilter("commit"));
        break;
      case "renew-fail":
        target().faulty.failNext("renewLease", fault.count, runFilter);
        break;
      case "kill":
        kill(target());
        break;
      case "sigterm":
        sigterm(target(), fault.timeout);
        break;
      case "drop":
        server.closeAllConnections();
        break;
      case "reload":
        if (resumeUrl === null || reloading !== null || reloads >= MAX_RELOADS) {
          note("reload skipped (nothing persisted yet, or already reloading)");
          break;
        }
        reloading = controller;
        controller.abort(new Error("page reload"));
        break;
    }
  };

  /** Fires the faults scheduled at a boundary, the first time any execution reaches it, outside the run's async context. */
  const boundary = (at: number, instance: Instance, run: string) => {
    if (boundariesReached.has(at)) return;
    boundariesReached.add(at);
    const scheduled = boundaryFaults.get(at);
    if (scheduled === undefined) return;
    note(`P${instance.index} ${run} reaches boundary ${at}`);
    outsideRuns(() => {
      for (const fault of scheduled) fire(fault);
    });
  };

  /** Fires the faults scheduled at the handler's current push count, outside the run's async context. */
  const pushed = (instance: Instance, run: string) => {
    pushes += 1;
    const scheduled = pushFaults.get(pushes);
    if (scheduled === undefined) return;
    note(`P${instance.index} ${run} pushed chunk #${pushes}`);
    outsideRuns(() => {
      for (const fault of scheduled) fire(fault);
    });
  };

  // ----- the front server ("load balancer") -----
  server = createServer({ noDelay: true }, (request, response) => {
    const instance = current;
    if (instance.state !== "alive") violations.push(`a request (${request.method} ${request.url}) was sent to P${instance.index}, which is ${instance.state}`);
    instance.responses.add(response);
    response.once("close", () => instance.responses.delete(response));
    instance.listener(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // ----- the clock -----
  let stopClock = false;
  const over = new Set<string>();
  const allOver = () => chaosRuns.size > 0 && [...chaosRuns].every((id) => over.has(id));
  /** Set once the manual clock passed MAX_RUN_CLOCK while a run was not over (statistics only). */
  let overLate = false;
  const timeOut = (why: string) => {
    if (timedOut !== undefined) return;
    timedOut = why;
    note(`TIMEOUT: ${why}`);
    controller.abort(new Error(`timed out: ${why}`));
  };
  const clock = (async () => {
    for (let ticks = 1; !stopClock; ticks += 1) {
      // The clock moves only while no store call is in flight.
      for (let spins = 0; shared.inFlight > 0 && !stopClock; spins += 1) await (spins < 50 ? turn() : sleepReal(1));
      timers.advance(TICK);
      for (let index = 0; index < 3; index += 1) await turn();
      if (ticks % 10 === 0) {
        for (const id of chaosRuns) {
          if (over.has(id)) continue;
          void shared.getRun(id).then(
            (found) => {
              if (found?.result !== undefined) over.add(id);
            },
            () => {},
          );
        }
      }
      // Work off the manual clock (Web Crypto for step ids and tokens, HTTP) takes real time, while
      // the clock can run far ahead of it: a run counts as stuck only once real time has passed too.
      if (!allOver() && timers.now() > MAX_RUN_CLOCK) overLate = true;
      if (!allOver() && timers.now() > MAX_RUN_CLOCK && Date.now() - started > MIN_REAL_FOR_STUCK) {
        timeOut(
          `run(s) ${[...chaosRuns]
            .filter((id) => !over.has(id))
            .map(short)
            .join(", ")} not over after ${MAX_RUN_CLOCK} ms on the manual clock`,
        );
      }
      if (Date.now() - started > MAX_REAL) timeOut(`the case took more than ${MAX_REAL} ms of real time`);
      if (timedOut !== undefined && Date.now() - started > MAX_REAL * 2) break; // cleanup is stuck too
    }
  })();

  let failure: string | undefined;
  /** Each run's whole log and record, read from the store at the end. */
  const logs = new Map<string, { log: Frame[]; record: RunRecord | undefined }>();
  const readRun = async (from: RunStore, id: string) => {
    const log: Frame[] = [];
    for (let after: string | undefined; ; ) {
      const page = await from.readFrames(id, after, 1000);
      log.push(...page.map((entry) => decodeEvent({ event: entry.type, id: entry.offset, data: entry.payload })));
      if (page.length < 1000) break;
      after = page.at(-1)!.offset;
    }
    logs.set(id, { log, record: await from.getRun(id) });
  };
  const fail = (message: string): never => {
    throw new ChaosFailure(message);
  };

  try {
    startInstance();

    // ----- the client -----
    const markSafe = (offset: string) => {
      if (pending.size === 0) safe = { offset, committed: committed.length };
    };
    const callbacks = (signalOwner: AbortController): FetchWithStreamOptions => ({
      fetchOpts: { signal: signalOwner.signal },
      reconnect: { retries: Number.POSITIVE_INFINITY, initialDelay: 1, factor: 1, jitter: 0 },
      maxRedirects: 100,
      onMetadata: ({ resumeUrl: latest, runId }) => {
        resumeUrl = latest ?? resumeUrl;
        if (clientRunId === undefined) note(`client follows ${short(runId)}`);
        clientRunId = runId;
      },
      onData: ({ data, hashedStepId }) => {
        pending.set(hashedStepId, [...(pending.get(hashedStepId) ?? []), String(data)]);
        dataSeen += 1;
        while (chunkFaults.length > 0 && chunkFaults[0]!.trigger.at <= dataSeen) fire(chunkFaults.shift()!);
      },
      onCommit: ({ hashedStepId, offset }) => {
        committed.push(...(pending.get(hashedStepId) ?? []));
        pending.delete(hashedStepId);
        snapshots.push([...committed]);
        markSafe(offset);
      },
      onRollback: ({ hashedStepId, offset }) => {
        pending.delete(hashedStepId);
        markSafe(offset);
      },
      onResult: (result) => {
        clientResult = result;
      },
      onRedirect: ({ reason }) => note(`client follows a redirect (${reason})`),
      onReconnect: ({ attempt, error }) => {
        if (attempt === 1 || attempt % 50 === 0) note(`client reconnects (attempt ${attempt}: ${error.code})`);
      },
    });
    let response: Response | undefined;
    const post = () => fetchWithStream(`${base}/run`, { ...callbacks(controller), fetchOpts: { method: "POST", body: "go", signal: controller.signal } });
    let attempt: Promise<Response> = post();
    for (let posts = 1; response === undefined; ) {
      let failed: unknown;
      try {
        response = await attempt;
      } catch (error) {
        failed = error;
      }
      if (timedOut !== undefined) fail(`(termination) ${timedOut}; the client had ${dataSeen} chunk(s), committed ${JSON.stringify(committed)}`);
      // No stream (a 503: nothing was started), or the connection died before the client learned
      // its run: the client can only send the request again (a user retrying), as a new run.
      const notStarted = failed === undefined && clientResult === undefined;
      if ((notStarted || (failed !== undefined && reloading === null)) && resumeUrl === null && posts < 20) {
        count(statistics, "client re-sent the POST");
        note(`client sends the POST again (${notStarted ? `answer ${response!.status}` : String(failed)})`);
        posts += 1;
        response = undefined;
        await sleepReal(1);
        controller = new AbortController();
        attempt = post();
        continue;
      }
      if (notStarted) fail(`(3) the endpoint answered ${response!.status} without a stream: ${await response!.text()}`);
      if (failed !== undefined) {
        if (reloading === null) fail(`(3) the client's stream failed: ${String(failed)}`);
        // The page reloads: it keeps what it persisted and resumes from there.
        reloads += 1;
        reloading = null;
        note(`client reloads, resuming after ${safe.offset ?? "(start)"} with ${safe.committed} committed chunk(s)`);
        committed = committed.slice(0, safe.committed);
        pending = new Map();
        controller = new AbortController();
        attempt = resumeStream(resumeUrl!, { ...callbacks(controller), ...(safe.offset === undefined ? {} : { offset: safe.offset }) });
      }
    }
    const text = await response!.text();
    note(`client done: ${response!.status} ${text}`);

    // ----- the faults stop; what is in the store now is final -----
    armed = false;
    outageDepth = 0;
    pauseDepth = 0;
    for (const instance of instances) {
      instance.faulty.restore();
      instance.faulty.resume();
    }
    if (clientRunId === undefined || !chaosRuns.has(clientRunId)) fail(`(3) the client follows run ${clientRunId}, which the handler never ran`);
    // Runs the client lost before it learned them go on in the background: they must end too.
    while (!allOver() && timedOut === undefined) await sleepReal(1);
    if (timedOut !== undefined) fail(`(termination) ${timedOut}`);
    for (const id of chaosRuns) await readRun(shared, id);
    const { log, record } = logs.get(clientRunId!)!;

    // (2) The current instance is alive: it answers a fresh request to another endpoint.
    let pong: unknown;
    for (let tries = 1; ; tries += 1) {
      try {
        const answer = await fetch(`${base}/ping?n=21`, { method: "POST", signal: AbortSignal.timeout(5_000) });
        pong = { status: answer.status, body: await answer.text() };
        break;
      } catch (error) {
        if (tries >= 3) fail(`(2) the current instance P${current.index} did not answer /ping: ${String(error)}`);
      }
    }
    const expectedPong = { status: 200, body: JSON.stringify({ doubled: 42, instance: current.index }) };
    if (JSON.stringify(pong) !== JSON.stringify(expectedPong)) {
      fail(`(2) the current instance P${current.index} answered /ping with ${JSON.stringify(pong)}, expected ${JSON.stringify(expectedPong)}`);
    }
    if (violations.length > 0) fail(`(2) ${violations.join("; ")}`);

    // (3) The client's committed view is the log's, and every snapshot of it was a prefix.
    const final = committedData(log).map(String);
    for (const [index, snapshot] of snapshots.entries()) {
      if (JSON.stringify(final.slice(0, snapshot.length)) !== JSON.stringify(snapshot)) {
        fail(`(3) the client's committed view #${index + 1} ${JSON.stringify(snapshot)} is not a prefix of the log's committed view ${JSON.stringify(final)}`);
      }
    }
    if (JSON.stringify(committed) !== JSON.stringify(final)) {
      fail(`(3) the client's final committed view ${JSON.stringify(committed)} differs from the log's ${JSON.stringify(final)}`);
    }

    // (4) The outcome: the program's chunks, each step's exactly once; or a failure the faults explain. The client got it.
    const result = checkOutcome(program, attemptFaultsFired, short(clientRunId!), log, record);
    if (clientResult === undefined || clientResult.status !== result.status || clientResult.offset !== result.offset) {
      fail(
        `(4) the client's result ${JSON.stringify(clientResult && { status: clientResult.status, offset: clientResult.offset })} is not the log's (${result.status} at ${result.offset})`,
      );
    }
    const expectedText = result.status === "succeeded" ? "done" : result.response.body;
    if (text !== expectedText) fail(`(4) the client's response body is ${JSON.stringify(text)}, the result frame's ${JSON.stringify(expectedText)}`);
    count(statistics, `client's run ${result.status}`);
    count(statistics, "runs", chaosRuns.size);
    count(statistics, "instances started", instances.length);
    count(statistics, "client chunks seen", dataSeen);
    count(statistics, "client reloads", reloads);
    count(statistics, "rollback frames", log.filter((frame) => frame.type === "rollback").length);
    count(statistics, "InterruptedError rollbacks", log.filter((frame) => frame.type === "rollback" && frame.error.name === "InterruptedError").length);
    count(statistics, "epochs > 1", record !== undefined && record.epoch > 1 ? 1 : 0);
    count(statistics, "manual clock ms", timers.now());
    if (overLate) {
      count(statistics, "cases whose runs ended only after the manual bound (real-time stalls)");
      statistics.set("longest such case, real ms", Math.max(statistics.get("longest such case, real ms") ?? 0, Date.now() - started));
    }
    // Runs the client lost track of are held to the same outcome.
    for (const [id, other] of logs) if (id !== clientRunId) checkOutcome(program, attemptFaultsFired, short(id), other.log, other.record);
  } catch (error) {
    failure = error instanceof ChaosFailure ? error.message : `(unexpected) ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
  }

  // ----- cleanup: every instance still running shuts down; SIGTERMed ones must finish closing -----
  try {
    armed = false;
    for (const instance of instances) {
      instance.faulty.restore();
      instance.faulty.resume();
    }
    server.closeAllConnections();
    for (const instance of instances) {
      if (instance.state !== "alive") continue;
      instance.state = "closing";
      instance.closedBy = "end";
      instance.closing = instance.durable.close({ timeout: 0 }).then(
        () => {
          if (instance.state === "closing") instance.state = "closed";
        },
        (error: unknown) => {
          violations.push(`P${instance.index}'s durable.close() rejected: ${String(error)}`);
        },
      );
    }
    const closing = instances.filter((instance) => instance.state === "closing");
    const deadline = Date.now() + 10_000;
    while (closing.some((instance) => instance.state === "closing") && Date.now() < deadline && timedOut === undefined) await sleepReal(1);
    const stuck = closing.filter((instance) => instance.state === "closing");
    if (stuck.length > 0 && failure === undefined) {
      failure = `(termination) durable.close() did not finish for ${stuck.map((instance) => `P${instance.index} (${instance.closedBy === "sigterm" ? "SIGTERM during the case" : "at the end of the case"})`).join(", ")}`;
    }
    if (violations.length > 0 && failure === undefined) failure = `(2) ${violations.join("; ")}`;
  } finally {
    stopClock = true;
    await clock;
    for (let spins = 0; shared.inFlight > 0 && spins < 5_000; spins += 1) await sleepReal(1);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  for (let index = 0; index < 3; index += 1) await turn();
  if (unhandled.length > unhandledBefore && failure === undefined) {
    failure = `(1) unhandled rejection(s): ${unhandled
      .slice(unhandledBefore)
      .map((reason) => (reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)))
      .join("\n")}`;
  }

  if (failure !== undefined) {
    for (const id of chaosRuns) {
      if (logs.has(id)) continue;
      try {
        await readRun(store, id);
      } catch {
        // the description goes without this log
      }
    }
    await close();
    const errorKinds = new Map<string, number>();
    for (const instance of instances) {
      for (const report of instance.errors) {
        const key = `P${instance.index} ${report.phase}: ${report.error instanceof Error ? report.error.message.slice(0, 120) : String(report.error)}`;
        errorKinds.set(key, (errorKinds.get(key) ?? 0) + 1);
      }
    }
    throw new Error(
      [
        failure,
        "",
        describeCase(input),
        `faults fired: ${faultsFired} of ${input.faults.length}`,
        ...[...logs].map(
          ([id, { log, record }]) =>
            `run ${short(id)}${id === clientRunId ? " (the client's)" : ""}: ${record === undefined ? "(no record)" : `status ${record.status}, epoch ${record.epoch}`}, log:\n${log.map((frame) => `  ${describeFrame(frame, names)}`).join("\n")}`,
        ),
        `client: committed ${JSON.stringify(committed)}, result ${clientResult === undefined ? "none" : `${clientResult.status} at ${clientResult.offset}`}, ${reloads} reload(s)`,
        `trace:\n${trace.map((line) => `  ${line}`).join("\n")}`,
        `background errors:\n${[...errorKinds].map(([key, count]) => `  ${count}× ${key}`).join("\n")}`,
        httpErrors.length > 0 ? `HTTP adapter errors:\n${httpErrors.map((line) => `  ${line}`).join("\n")}` : "",
      ].join("\n"),
    );
  }
  await close();
}

// ---------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------

/**
 * Registers a randomized chaos test against a store made by `factory`: random step programs
 * (1–4 steps of 1–3 chunks, failing on chosen attempts, retries 3, sleeps that suspend the run)
 * run under a random schedule of faults fired at random points (the client's k-th chunk, or step
 * boundaries): store outages and pauses, failed and ambiguous appends, failed lease renewals,
 * killed processes, SIGTERMs with a short timeout, dropped client connections and page reloads.
 * Each process is its own `createDurable` on a `FaultyStore` over the shared store; the client
 * talks HTTP to a front server that forwards to the live process. Each case checks: no unhandled
 * rejection; the current process answers a fresh request; the client's committed view equals the
 * log's and every snapshot of it was a prefix; a succeeded run committed each step's chunks exactly
 * once, a failed run failed for a reason the faults explain, and the client got the result.
 *
 * `numRuns` (default 200) is overridden by the `CHAOS_RUNS` environment variable, `seed` by `CHAOS_SEED`.
 *
 * @example
 * ```ts
 * import { defineChaosProperty } from "@durastream/testing";
 * defineChaosProperty("MyStore", async () => ({ store: new MyStore(), close: async () => {} }));
 * ```
 */
export function defineChaosProperty(
  name: string,
  factory: () => Promise<{ store: RunStore; close: () => Promise<void> }>,
  options: { numRuns?: number; seed?: number } = {},
): void {
  const fromEnvironment = (variable: string): number | undefined => {
    const value = process.env[variable];
    if (value === undefined || value === "") return undefined;
    const parsed = Number(value);
    if (!Number.isInteger(parsed)) throw new Error(`${variable} must be an integer, got ${JSON.stringify(value)}.`);
    return parsed;
  };
  const numRuns = fromEnvironment("CHAOS_RUNS") ?? options.numRuns ?? 200;
  const seed = fromEnvironment("CHAOS_SEED") ?? options.seed;
  // Replays one case: the seed and path fast-check printed.
  const path = process.env.CHAOS_PATH;

  describe(`chaos: random programs under random faults (${name})`, () => {
    const unhandled: unknown[] = [];
    const statistics: Statistics = new Map();
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    beforeAll(() => {
      process.on("unhandledRejection", onUnhandled);
    });
    afterAll(() => {
      process.off("unhandledRejection", onUnhandled);
      if (process.env.CHAOS_STATS === "1")
        console.log(
          `chaos statistics (${name}):\n${[...statistics]
            .sort()
            .map(([key, value]) => `  ${key}: ${value}`)
            .join("\n")}`,
        );
    });

    it(
      `keeps the committed view, the outcome and the processes sound (${numRuns} cases)`,
      async () => {
        await fc.assert(
          fc.asyncProperty(chaosCases, (input) => runCase(factory, input, unhandled, statistics)),
          {
            numRuns,
            ...(seed === undefined ? {} : { seed }),
            ...(path === undefined || path === "" ? {} : { path }),
            endOnFailure: process.env.CHAOS_SHRINK === "0",
          },
        );
      },
      Math.max(120_000, numRuns * 3_000),
    );
  });
}
