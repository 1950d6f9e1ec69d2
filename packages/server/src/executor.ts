import { encodeFramePayload } from "@durastream/protocol";
import { ulid } from "ulid";
import { DurableRun, type DurableHandler, type ExecutionEnd, type RunSettings } from "./durable-run.js";
import { DurableError } from "./errors.js";
import { requestFromSnapshot } from "./request-snapshot.js";
import type { RetryPolicy } from "./retry-policy.js";
import type { DurableEvent, FrameToAppend, RequestSnapshot, RunRecord, RunStore } from "./store/run-store.js";
import { unrefTimer, type Timers } from "./timers.js";

/** A handler the executor can run, registered under its endpoint id. */
export interface Registration {
  readonly handler: DurableHandler;
  readonly retryPolicy: readonly (RetryPolicy | undefined)[];
}

/** Settings shared by every run of one `createDurable`. */
export interface ExecutorSettings {
  readonly store: RunStore;
  readonly timers: Timers;
  readonly maxInlineWait: number;
  readonly maxFramesPerRun: number;
  readonly maxLogBytes: number;
  /** How long a claim on a run holds without renewal, ms. */
  readonly leaseDuration: number;
  /** How often to look for runs to resume that other processes left (shared stores), ms. */
  readonly pollInterval: number;
  /** Keeps background work alive on serverless hosts (e.g. Next.js `after`, `ctx.waitUntil`). */
  readonly waitUntil?: (promise: Promise<unknown>) => void;
}

/** Frames read per page when scanning a log for interrupted steps. */
const SCAN_PAGE = 1000;

/**
 * Runs durable handlers in this process: starts new runs, resumes suspended and orphaned ones
 * (replaying their handler with memoized steps), keeps their leases, and delivers events.
 */
export class Executor {
  /** This process's identity as a run owner. */
  readonly owner = `executor-${ulid()}`;
  readonly #settings: ExecutorSettings;
  readonly #registrations = new Map<string, Registration>();
  readonly #active = new Map<string, DurableRun>();
  /** Settles when an active run's execution has stopped and been cleaned up. */
  readonly #settled = new Map<string, Promise<void>>();
  #timer: unknown;
  #timerDue = Number.POSITIVE_INFINITY;
  #closed = false;

  constructor(settings: ExecutorSettings) {
    this.#settings = settings;
  }

  /** Registers an endpoint's handler and looks for its runs to resume. */
  register(endpointId: string, registration: Registration): void {
    if (this.#registrations.has(endpointId)) return;
    this.#registrations.set(endpointId, registration);
    void this.poll();
  }

  /** The run this process executes, if any. */
  activeRun(runId: string): DurableRun | undefined {
    return this.#active.get(runId);
  }

  /** Creates a run and starts executing it; `request` is what the handler gets. */
  async start(
    endpointId: string,
    registration: Registration,
    request: Request,
    snapshot: RequestSnapshot,
    keepBody: boolean,
  ): Promise<{ run: DurableRun; end: Promise<ExecutionEnd> }> {
    const { store, timers, leaseDuration } = this.#settings;
    const now = timers.now();
    const record = await store.createRun({
      runId: ulid(),
      endpointId,
      createdAt: now,
      request: snapshot,
      owner: this.owner,
      leaseExpiresAt: now + leaseDuration,
    });
    const run = new DurableRun(record, this.#runSettings(endpointId, registration), [], new Map());
    return { run, end: this.#execute(run, registration, request, keepBody) };
  }

  /**
   * Takes a run over and re-executes it when it is due (a suspended run whose time has come, or a
   * running one whose executor died) and its endpoint is registered here. Steps that were
   * interrupted get a rollback frame first.
   */
  async resume(runId: string): Promise<void> {
    if (this.#closed || this.#active.has(runId)) return;
    const { store, timers, leaseDuration } = this.#settings;
    const existing = await store.getRun(runId);
    const registration = existing === undefined ? undefined : this.#registrations.get(existing.endpointId);
    if (existing === undefined || registration === undefined) return;
    const now = timers.now();
    const record = await store.claimRun(runId, this.owner, now + leaseDuration, now);
    if (record === undefined || this.#active.has(runId)) return;
    const interrupted = await this.#rollBackInterrupted(record);
    const journal = await store.listSteps(runId);
    const run = new DurableRun(record, this.#runSettings(record.endpointId, registration), journal, interrupted);
    void this.#execute(run, registration, requestFromSnapshot(record.request), false);
  }

  /** Resumes every run that is due and whose endpoint is registered here, then re-arms the timer. */
  async poll(): Promise<void> {
    if (this.#closed) return;
    const { store, timers } = this.#settings;
    try {
      const due = await store.listResumableRuns(timers.now(), 100);
      await Promise.all(due.filter(({ endpointId }) => this.#registrations.has(endpointId)).map(({ runId }) => this.resume(runId)));
    } finally {
      await this.#arm();
    }
  }

  /** Delivers an event to waiting runs; resolves with how many were woken. */
  async deliver(event: DurableEvent): Promise<number> {
    const { store, timers } = this.#settings;
    const woken = await store.deliverEvent(event, timers.now());
    await Promise.all(
      woken.map(async (runId) => {
        const run = this.#active.get(runId);
        if (run?.executing === true) return run.refreshWaits();
        // Suspending right now: once it is suspended (and due, since the event set wakeAt), resume it.
        await this.#settled.get(runId);
        await this.resume(runId);
      }),
    );
    if (woken.length > 0) void this.#arm();
    return woken.length;
  }

  /** Stops timers; runs in progress go on until they finish or suspend. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#settings.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #execute(run: DurableRun, registration: Registration, request: Request, keepBody: boolean): Promise<ExecutionEnd> {
    const { store, timers, leaseDuration } = this.#settings;
    this.#active.set(run.runId, run);
    let renewal: unknown;
    const renew = () => {
      renewal = timers.setTimeout(async () => {
        const held = await store.renewLease(run.runId, this.owner, run.epoch, timers.now() + leaseDuration).catch(() => false);
        if (held) renew();
        else run.lose();
      }, leaseDuration / 3);
      unrefTimer(renewal);
    };
    renew();
    const end = run.execute(registration.handler, request, keepBody);
    const settled = end.then(async (result) => {
      if (result.kind === "finished") await run.finished;
      timers.clearTimeout(renewal);
      this.#active.delete(run.runId);
      this.#settled.delete(run.runId);
      if (result.kind !== "suspended") return;
      // An event delivered while the run was suspending makes it due at once.
      const record = await store.getRun(run.runId);
      if (record?.wakeAt != null && record.wakeAt <= timers.now()) await this.resume(run.runId);
      else await this.#arm();
    });
    this.#settled.set(run.runId, settled);
    this.#settings.waitUntil?.(settled);
    return end;
  }

  /** Sets the timer for the next due run (or the next poll, whichever is first). */
  async #arm(): Promise<void> {
    if (this.#closed) return;
    const { store, timers, pollInterval } = this.#settings;
    const now = timers.now();
    const nextWake = await store.nextWakeAt();
    // A wake time already past belongs to a run this process cannot resume now (its endpoint is not
    // registered here, or another process holds it): look again at the next poll, not in a busy loop.
    const due = nextWake !== null && nextWake > now ? Math.min(nextWake, now + pollInterval) : now + pollInterval;
    if (this.#timer !== undefined && this.#timerDue <= due) return;
    if (this.#timer !== undefined) timers.clearTimeout(this.#timer);
    this.#timerDue = due;
    this.#timer = timers.setTimeout(() => {
      this.#timer = undefined;
      this.#timerDue = Number.POSITIVE_INFINITY;
      void this.poll();
    }, Math.max(0, due - now));
    unrefTimer(this.#timer);
  }

  /**
   * Finds steps whose data frames are not followed by their commit or rollback (the executor
   * died mid-step) and rolls them back in the new epoch, so clients discard those chunks. Returns
   * the interrupted attempt number per hashed step id.
   */
  async #rollBackInterrupted(record: RunRecord): Promise<Map<string, number>> {
    const { store } = this.#settings;
    const open = new Set<string | null>();
    const lastAttempt = new Map<string | null, number>();
    let after: string | undefined;
    for (;;) {
      const page = await store.readFrames(record.runId, after, SCAN_PAGE);
      for (const entry of page) {
        const step = stepOfPayload(entry.payload);
        if (entry.type === "data") open.add(step);
        else if (entry.type === "commit") open.delete(step);
        else if (entry.type === "rollback") {
          open.delete(step);
          lastAttempt.set(step, (JSON.parse(entry.payload) as { attempt: number }).attempt);
        }
      }
      if (page.length < SCAN_PAGE) break;
      after = page[page.length - 1]!.offset;
    }
    const interrupted = new Map<string, number>();
    if (open.size === 0) return interrupted;
    const frames: FrameToAppend[] = [];
    for (const step of open) {
      const attempt = (lastAttempt.get(step) ?? 0) + 1;
      if (step !== null) interrupted.set(step, attempt);
      frames.push({
        type: "rollback",
        payload: encodeFramePayload({
          type: "rollback",
          hashedStepId: step,
          attempt,
          willRetry: true,
          error: { name: "InterruptedError", message: "The process running this step stopped before the step finished; it runs again." },
        }),
      });
    }
    await store.appendFrames(record.runId, record.epoch, frames);
    return interrupted;
  }

  #runSettings(endpointId: string, registration: Registration): RunSettings {
    const { store, timers, maxInlineWait, maxFramesPerRun, maxLogBytes } = this.#settings;
    return { store, timers, maxInlineWait, maxFramesPerRun, maxLogBytes, retryPolicy: registration.retryPolicy, where: `durable.endpoint(${endpointId})` };
  }
}

/** The hashed step id of a data, commit or rollback payload (they all start with `{"step":`). */
function stepOfPayload(payload: string): string | null {
  if (payload.startsWith('{"step":null')) return null;
  if (payload.startsWith('{"step":"')) return payload.slice(9, payload.indexOf('"', 9));
  throw new DurableError("STORE_REFUSED", `A log frame has no step: ${payload.slice(0, 80)}`);
}
