import { encodeFramePayload } from "@durastream/protocol";
import { ulid } from "ulid";
import type { ReportError } from "./background-errors.js";
import { DurableRun, type DurableHandler, type ExecutionEnd, type RunSettings } from "./durable-run.js";
import { DurableError } from "./errors.js";
import { requestFromSnapshot } from "./request-snapshot.js";
import type { RetryPolicy } from "./retry-policy.js";
import { resolveRetryPolicy } from "./retry-policy.js";
import type { DurableEvent, FrameToAppend, RequestSnapshot, RunRecord, RunStore, StepRecord } from "./store/run-store.js";
import { unrefTimer, type Timers } from "./timers.js";

/** A handler the executor can run, registered under its endpoint id. */
export interface Registration {
  readonly handler: DurableHandler;
  readonly retryPolicy: readonly (RetryPolicy | undefined)[];
  /** The endpoint's default longest step attempt, ms. */
  readonly stepTimeout?: number;
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
  /** Where background errors go. */
  readonly report: ReportError;
  /** Default longest step attempt, ms; undefined for none. */
  readonly stepTimeout: number | undefined;
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
  /** No new runs are started, claimed or resumed: the executor is shutting down or closed. */
  #closed = false;

  constructor(settings: ExecutorSettings) {
    this.#settings = settings;
  }

  /**
   * Registers an endpoint's handler and looks for its runs to resume. The same id again with the
   * same handler is a no-op (the first registration's options stay); with another handler it
   * throws `INVALID_OPTIONS`, since the runs of one id would otherwise be finished by the wrong one.
   */
  register(endpointId: string, registration: Registration): void {
    const existing = this.#registrations.get(endpointId);
    if (existing !== undefined) {
      if (existing.handler === registration.handler) return;
      throw new DurableError(
        "INVALID_OPTIONS",
        `durable.endpoint: the id ${JSON.stringify(endpointId)} is already registered with another handler. Every endpoint needs its own id (runs are stored under it and resumed by the handler registered with it): give this endpoint a different id, e.g. { id: "chat-v2" }. An endpoint without an id takes "METHOD /path" of its first request as its id.`,
      );
    }
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
    try {
      await this.#resume(runId);
    } catch (error) {
      // Claimed but not prepared (the store failed during the takeover scan): the lease expires and
      // the run is claimed again later, by this process or another.
      this.#settings.report("resume", error, runId);
    }
  }

  async #resume(runId: string): Promise<void> {
    if (this.#closed || this.#active.has(runId)) return;
    const { store, timers, leaseDuration } = this.#settings;
    const existing = await store.getRun(runId);
    const registration = existing === undefined ? undefined : this.#registrations.get(existing.endpointId);
    if (existing === undefined || registration === undefined) return;
    const now = timers.now();
    if (this.#closed) return;
    const record = await store.claimRun(runId, this.owner, now + leaseDuration, now);
    if (record === undefined || this.#active.has(runId)) return;
    const journal = await store.listSteps(runId);
    const interrupted = await this.#rollBackInterrupted(record, journal, registration);
    if (this.#closed) {
      // Shutdown began while the run was being claimed: hand it back at once.
      await this.#release(runId, record.epoch);
      return;
    }
    const run = new DurableRun(record, this.#runSettings(record.endpointId, registration), journal, interrupted);
    void this.#execute(run, registration, requestFromSnapshot(record.request), false);
  }

  /** Resumes every run that is due and whose endpoint is registered here, then re-arms the timer. */
  async poll(): Promise<void> {
    if (this.#closed) return;
    const { store, timers, report } = this.#settings;
    try {
      const due = await store.listResumableRuns(timers.now(), 100);
      await Promise.all(due.filter(({ endpointId }) => this.#registrations.has(endpointId)).map(({ runId }) => this.resume(runId)));
    } catch (error) {
      report("poll", error);
    }
    await this.#arm();
  }

  /** Delivers an event to waiting runs; resolves with how many were woken. */
  async deliver(event: DurableEvent): Promise<number> {
    const { store, timers } = this.#settings;
    const woken = await store.deliverEvent(event, timers.now());
    await Promise.all(
      woken.map(async (runId) => {
        const run = this.#active.get(runId);
        // The event is stored: a failure to hand it to the run now is not the sender's; the run
        // reads it from its journal when it is next executed.
        if (run?.executing === true) return run.refreshWaits().catch((error: unknown) => this.#settings.report("events", error, runId));
        // Suspending right now: once it is suspended (and due, since the event set wakeAt), resume it.
        await this.#settled.get(runId);
        await this.resume(runId);
      }),
    );
    if (woken.length > 0) void this.#arm();
    return woken.length;
  }

  /** Whether the executor stopped taking runs (`close` or `shutdown` was called). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Stops timers; runs in progress go on until they finish or suspend. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#settings.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Graceful shutdown: stops taking runs, lets the step attempts running now store their commit
   * or rollback (up to `timeout` ms), then stops every execution of this process and releases its
   * lease, so that another process (or this one, restarted) takes the run over at once. Resolves
   * once every run is handed over or finished and its result stored.
   */
  async shutdown(timeout: number): Promise<void> {
    this.close();
    const { timers, report } = this.#settings;
    const runs = [...this.#active.values()];
    let timer: unknown;
    const timedOut = new Promise<void>((resolve) => (timer = timers.setTimeout(resolve, timeout)));
    await Promise.race([Promise.all(runs.map((run) => run.drain())), timedOut]);
    timers.clearTimeout(timer);
    await Promise.all(
      runs.map(async (run) => {
        if (run.executing) {
          await run.stop(new DurableError("SHUTTING_DOWN", "This process is shutting down; the run goes on in another execution."));
          try {
            await this.#release(run.runId, run.epoch);
          } catch (error) {
            report("shutdown", error, run.runId); // the lease then expires on its own
          }
        }
      }),
    );
    await Promise.all([...this.#settled.values()]);
  }

  async #execute(run: DurableRun, registration: Registration, request: Request, keepBody: boolean): Promise<ExecutionEnd> {
    const { store, timers, leaseDuration } = this.#settings;
    this.#active.set(run.runId, run);
    const { report } = this.#settings;
    let renewal: unknown;
    let renewing = true;
    // Until when the lease is known to hold. A failed renewal is retried until then: one store
    // blip must not drop a run whose lease has most of its time left.
    let heldUntil = timers.now() + leaseDuration;
    const renew = (after: number) => {
      renewal = timers.setTimeout(async () => {
        const requested = timers.now() + leaseDuration;
        let held: boolean | undefined;
        try {
          held = await store.renewLease(run.runId, this.owner, run.epoch, requested);
        } catch (error) {
          report("lease", error, run.runId);
        }
        if (!renewing) return;
        if (held === true) {
          heldUntil = requested;
          renew(leaseDuration / 3);
        } else if (held === false) {
          run.lose(); // another executor holds the run now
        } else if (timers.now() >= heldUntil) {
          run.lose(new DurableError("STORE_UNAVAILABLE", `Run ${run.runId}: the lease could not be renewed before it expired; this process stops executing the run.`));
        } else {
          renew(Math.min(leaseDuration / 10, Math.max(0, heldUntil - timers.now())));
        }
      }, after);
      unrefTimer(renewal);
    };
    renew(leaseDuration / 3);
    const end = run.execute(registration.handler, request, keepBody);
    const settled = end
      .then(async (result) => {
        if (result.kind === "finished") await run.finished;
        renewing = false;
        timers.clearTimeout(renewal);
        this.#active.delete(run.runId);
        this.#settled.delete(run.runId);
        if (result.kind !== "suspended" || this.#closed) return;
        // An event delivered while the run was suspending makes it due at once.
        const record = await store.getRun(run.runId);
        if (record?.wakeAt != null && record.wakeAt <= timers.now()) await this.resume(run.runId);
        else await this.#arm();
      })
      .catch((error: unknown) => {
        report("settle", error, run.runId);
        return this.#arm();
      });
    this.#settled.set(run.runId, settled);
    this.#settings.waitUntil?.(settled);
    return end;
  }

  /** Gives up this process's lease on a run it holds, so any executor may claim it at once. */
  async #release(runId: string, epoch: number): Promise<void> {
    await this.#settings.store.renewLease(runId, this.owner, epoch, 0);
  }

  /** Sets the timer for the next due run (or the next poll, whichever is first). */
  async #arm(): Promise<void> {
    if (this.#closed) return;
    const { store, timers, pollInterval, report } = this.#settings;
    let nextWake: number | null = null;
    try {
      nextWake = await store.nextWakeAt();
    } catch (error) {
      // Look again at the next poll: a store that is down now must not stop the scheduler for good.
      report("poll", error);
    }
    if (this.#closed) return;
    const now = timers.now();
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
   * Rolls back, in the new epoch, the step attempts that were interrupted (their executor stopped
   * mid-step), so clients discard their chunks: the journal's `running` entries (the attempt is
   * put on record before it runs, so this holds even when it streamed nothing), and steps whose
   * data frames are not followed by their commit or rollback in the log (chunks outside steps; logs
   * written before attempts were on record). Returns the interrupted attempt number per hashed
   * step id of the latter kind.
   */
  async #rollBackInterrupted(record: RunRecord, journal: readonly StepRecord[], registration: Registration): Promise<Map<string, number>> {
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
    const running = new Map(journal.filter((entry) => entry.kind === "run" && entry.status === "running").map((entry) => [entry.hashedStepId, entry]));
    const interrupted = new Map<string, number>();
    const frames: FrameToAppend[] = [];
    // A `running` entry records its step's retries; the endpoint's apply to entries written before.
    const { retries } = resolveRetryPolicy("durable.endpoint", ...registration.retryPolicy);
    const rollback = (step: string | null, attempt: number, willRetry: boolean) =>
      frames.push({
        type: "rollback",
        payload: encodeFramePayload({
          type: "rollback",
          hashedStepId: step,
          attempt,
          willRetry,
          error: {
            name: "InterruptedError",
            message: `The execution running this step stopped before the step finished (attempt ${attempt}): its process stopped, or lost the run's lease.${willRetry ? " It runs again." : ""}`,
          },
        }),
      });
    for (const [step, entry] of running) {
      // Rolled back already (by an earlier takeover that stopped in turn) when the log says so.
      if (!open.has(step) && lastAttempt.get(step) === entry.attempts) continue;
      open.delete(step);
      rollback(step, entry.attempts, entry.attempts <= (entry.retries ?? retries));
    }
    for (const step of open) {
      const attempt = (lastAttempt.get(step) ?? 0) + 1;
      if (step !== null) interrupted.set(step, attempt);
      rollback(step, attempt, true);
    }
    if (frames.length > 0) await store.appendFrames(record.runId, record.epoch, frames);
    return interrupted;
  }

  #runSettings(endpointId: string, registration: Registration): RunSettings {
    const { store, timers, maxInlineWait, maxFramesPerRun, maxLogBytes, report, stepTimeout, leaseDuration } = this.#settings;
    return {
      store,
      timers,
      maxInlineWait,
      maxFramesPerRun,
      maxLogBytes,
      report,
      stepTimeout: registration.stepTimeout ?? stepTimeout,
      writeRetryLimit: leaseDuration,
      retryPolicy: registration.retryPolicy,
      where: `durable.endpoint(${endpointId})`,
    };
  }
}

/** The hashed step id of a data, commit or rollback payload (they all start with `{"step":`). */
function stepOfPayload(payload: string): string | null {
  if (payload.startsWith('{"step":null')) return null;
  if (payload.startsWith('{"step":"')) return payload.slice(9, payload.indexOf('"', 9));
  throw new DurableError("STORE_REFUSED", `A log frame has no step: ${payload.slice(0, 80)}`);
}
