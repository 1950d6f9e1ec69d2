import { InvalidOptionsError } from "@durastream/protocol";
import { ulid } from "ulid";
import type { ReportError } from "./background-errors.js";
import { cancelRun } from "./cancel-run.js";
import { DurableRun } from "./durable-run.js";
import type { DurableHandler, ExecutionEnd, RunSettings } from "./run-types.js";
import { DurableError } from "./errors.js";
import { requestFromSnapshot } from "./request-snapshot.js";
import type { RetryPolicy } from "./retry-policy.js";
import type { DurableEvent, RequestSnapshot, ResumableCursor, ResumableRun, RunRecord, RunStore } from "./store/run-store.js";
import { readRunSummary } from "./store/run-summary.js";
import { rollBackInterrupted } from "./takeover-scan.js";
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
  /** Per-run bound on chunks not yet stored (see `RunSettings`); default 8 MiB. */
  readonly maxBufferedBytes?: number;
  /** Most bytes of a handler's response body stored as its result; default 16 MiB. */
  readonly maxResponseBytes?: number;
  /** How long a claim on a run holds without renewal, ms. */
  readonly leaseDuration: number;
  /** How often to look for runs to resume that other processes left (shared stores), ms. */
  readonly pollInterval: number;
  /**
   * How long a run whose endpoint is not registered here may stay due before this process ends it
   * as failed (`UNKNOWN_ENDPOINT`), ms; `Infinity` never. Default 1 hour.
   */
  readonly orphanGrace?: number;
  /** Keeps background work alive on serverless hosts (e.g. Next.js `after`, `ctx.waitUntil`). */
  readonly waitUntil?: (promise: Promise<unknown>) => void;
  /** Where background errors go. */
  readonly report: ReportError;
  /** Default longest step attempt, ms; undefined for none. */
  readonly stepTimeout: number | undefined;
}

/** Due runs read per page when polling. */
const POLL_PAGE = 100;

/** Default `orphanGrace`: 1 hour. */
const DEFAULT_ORPHAN_GRACE = 3_600_000;

/**
 * Runs durable handlers in this process: starts new runs, resumes suspended and orphaned ones
 * (replaying their handler with memoized steps), keeps their leases, and delivers events.
 */
export class Executor {
  #owner: string | undefined;
  /**
   * This process's identity as a run owner. Made on first use, not at construction: workerd
   * forbids random values in global scope, where apps call `createDurable()`.
   */
  get owner(): string {
    if (this.#owner === undefined) this.#owner = `executor-${ulid()}`;
    return this.#owner;
  }
  readonly #settings: ExecutorSettings;
  readonly #registrations = new Map<string, Registration>();
  readonly #active = new Map<string, DurableRun>();
  /** Settles when an active run's execution has stopped and been cleaned up. */
  readonly #settled = new Map<string, Promise<void>>();
  #timer: unknown;
  #timerDue = Number.POSITIVE_INFINITY;
  /**
   * The poll timer could not be set: workerd forbids timers in global scope, where the first poll
   * (at `durable.endpoint`) runs. The next run started here polls again, from a request.
   */
  #armRefused = false;
  /** No new runs are started, claimed or resumed: the executor is shutting down or closed. */
  #closed = false;
  /**
   * Where the next poll's round of the due runs goes on (the last run it listed), or undefined to
   * start from the longest due. Each poll reads one page from here, so every due run is looked at
   * within (due runs / page) polls, however many runs this process cannot resume come first.
   */
  #roundCursor: ResumableCursor | undefined;
  /** How many endpoints were registered when the round began: a new one starts a new round. */
  #roundRegistrations = 0;
  /**
   * Where the look for runs that became due since the last poll starts (the round may be far
   * behind them): runs due at or after this time, or after this run. Undefined before the first poll.
   */
  #freshCursor: ResumableCursor | undefined;
  /** The poll running now, and whether another was asked for meanwhile (it runs right after). */
  #polling: Promise<void> | undefined;
  #pollAgain = false;
  /**
   * When this process first polled. A run counts as orphaned here only from then on: a process
   * that just started (its endpoints still being registered, or after a downtime in which runs
   * became due) does not end runs before it has looked for them for `orphanGrace` itself.
   */
  #pollingSince: number | undefined;

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
      throw new InvalidOptionsError(
        `durable.endpoint: the id ${JSON.stringify(endpointId)} is already registered with another handler. Every endpoint needs its own id (runs are stored under it and resumed by the handler registered with it): give this endpoint a different id, e.g. { id: "chat-v2" }. An endpoint without an id takes "METHOD /path" of its first request as its id.`,
      );
    }
    this.#registrations.set(endpointId, registration);
    void this.poll();
  }

  /**
   * Creates a run and starts executing it; `request` is what the handler gets. With `key`, the run
   * holds it while active: `createRun` rejects with a `RunKeyTakenError` when another active run of
   * the endpoint holds it (nothing is started then).
   */
  async start(
    endpointId: string,
    registration: Registration,
    request: Request,
    snapshot: RequestSnapshot,
    keepBody: boolean,
    key?: string,
  ): Promise<{ run: DurableRun; end: Promise<ExecutionEnd> }> {
    const { store, timers, leaseDuration } = this.#settings;
    if (this.#armRefused) {
      this.#armRefused = false;
      void this.poll();
    }
    const now = timers.now();
    const record = await store.createRun({
      runId: ulid(),
      endpointId,
      createdAt: now,
      request: snapshot,
      owner: this.owner,
      leaseExpiresAt: now + leaseDuration,
      ...(key === undefined ? {} : { key }),
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
    // Not `getRun`: the request (its body may be large) is read by the claim, when it is needed.
    const existing = await readRunSummary(store, runId);
    const registration = existing === undefined ? undefined : this.#registrations.get(existing.endpointId);
    if (existing === undefined || registration === undefined) return;
    const now = timers.now();
    if (this.#closed) return;
    const record = await store.claimRun(runId, this.owner, now + leaseDuration, now);
    if (record === undefined || this.#active.has(runId)) return;
    const journal = await store.listSteps(runId);
    const interrupted = await rollBackInterrupted(this.#settings.store, record, journal, registration.retryPolicy);
    if (this.#closed) {
      // Shutdown began while the run was being claimed: hand it back at once.
      await this.#release(runId, record.epoch);
      return;
    }
    const run = new DurableRun(record, this.#runSettings(record.endpointId, registration), journal, interrupted);
    void this.#execute(run, registration, requestFromSnapshot(record.request), false);
  }

  /**
   * Looks for due runs, a page at a time (`listResumableRuns` after a cursor), then re-arms the
   * timer. Each poll reads the next page of a round over all due runs, and, when that page is full,
   * a page of the runs that became due since the last poll; it resumes those whose endpoint is
   * registered here and ends those due for longer than `orphanGrace` whose endpoint is not
   * (`UNKNOWN_ENDPOINT`). So runs this process cannot resume never hide the others, and a poll
   * reads at most two pages however many runs are due. A poll asked for while one runs is run
   * once more right after it.
   */
  poll(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#polling !== undefined) {
      this.#pollAgain = true;
      return this.#polling;
    }
    this.#polling = this.#pollLoop();
    return this.#polling;
  }

  async #pollLoop(): Promise<void> {
    try {
      for (;;) {
        this.#pollAgain = false;
        try {
          await this.#pollPages();
        } catch (error) {
          this.#settings.report("poll", error);
        }
        if (!this.#pollAgain) await this.#arm();
        if (!this.#pollAgain || this.#closed) return;
      }
    } catch (error) {
      this.#settings.report("poll", error);
    } finally {
      // Cleared before the promise settles: a poll asked for from now on starts a new loop.
      this.#polling = undefined;
    }
  }

  /** One poll: the round's next page, and the newly due runs when that page was full. */
  async #pollPages(): Promise<void> {
    const { store, timers } = this.#settings;
    const now = timers.now();
    this.#pollingSince ??= now;
    // A new endpoint's runs may be anywhere in the order: look at all of them again.
    if (this.#registrations.size !== this.#roundRegistrations) {
      this.#roundRegistrations = this.#registrations.size;
      this.#roundCursor = undefined;
    }
    const round = await store.listResumableRuns(now, POLL_PAGE, this.#roundCursor);
    const listed = new Map(round.map((run) => [run.runId, run]));
    const roundDone = round.length < POLL_PAGE;
    this.#roundCursor = roundDone ? undefined : round[round.length - 1];
    if (roundDone) {
      // Every run due now was listed: the next look for newly due runs starts here.
      this.#freshCursor = { dueAt: now, runId: "" };
    } else if (this.#freshCursor === undefined) {
      this.#freshCursor = { dueAt: now, runId: "" };
    } else {
      const fresh = await store.listResumableRuns(now, POLL_PAGE, this.#freshCursor);
      for (const run of fresh) listed.set(run.runId, run);
      this.#freshCursor = fresh.length < POLL_PAGE ? { dueAt: now, runId: "" } : fresh[fresh.length - 1];
    }
    await Promise.all([...listed.values()].map((run) => this.#takeDue(run, now)));
  }

  /**
   * Resumes a listed run whose endpoint is registered here; ends one whose endpoint is not, once it
   * has been due for `orphanGrace` while this process was looking for due runs.
   */
  async #takeDue(run: ResumableRun, now: number): Promise<void> {
    if (this.#registrations.has(run.endpointId)) return this.resume(run.runId);
    const grace = this.#settings.orphanGrace ?? DEFAULT_ORPHAN_GRACE;
    if (now - Math.max(run.dueAt, this.#pollingSince ?? now) >= grace) await this.#endOrphan(run.runId, grace);
  }

  /**
   * Ends a run whose endpoint is registered nowhere it could be resumed: claims it, rolls back its
   * interrupted steps (as any takeover does), and executes it with a stand-in handler that throws
   * a `DurableError` of code `UNKNOWN_ENDPOINT`, so it ends as any failed run does (result frame,
   * status 500 with the message as body, kept for `retention`). The error is reported (phase
   * `resume`) so operators see which endpoint id is missing.
   */
  async #endOrphan(runId: string, grace: number): Promise<void> {
    if (this.#closed || this.#active.has(runId)) return;
    const { store, timers, leaseDuration, report } = this.#settings;
    let claimed: RunRecord | undefined;
    try {
      const now = timers.now();
      claimed = await store.claimRun(runId, this.owner, now + leaseDuration, now);
      if (claimed === undefined || this.#active.has(runId)) return;
      const record = claimed;
      if (this.#registrations.has(record.endpointId)) {
        // Registered while the claim was on its way: hand the run back and resume it instead.
        await this.#release(runId, record.epoch);
        await this.resume(runId);
        return;
      }
      const error = new DurableError(
        "UNKNOWN_ENDPOINT",
        `Run ${runId} was ended (UNKNOWN_ENDPOINT): no endpoint with id ${JSON.stringify(record.endpointId)} is registered on the instances that looked for due runs, and the run had been due for more than ${formatGrace(grace)} (orphanGrace). Register an endpoint with that id on every instance (durable.endpoint(handler, { id: ${JSON.stringify(record.endpointId)} })) for such runs to be resumed, or raise createDurable({ orphanGrace }) to keep them waiting longer.`,
      );
      const standIn: Registration = {
        handler: () => {
          throw error;
        },
        retryPolicy: [{ retries: 0 }],
      };
      const journal = await store.listSteps(runId);
      const interrupted = await rollBackInterrupted(this.#settings.store, record, journal, standIn.retryPolicy, true);
      if (this.#closed) {
        await this.#release(runId, record.epoch);
        return;
      }
      report("resume", error, runId);
      const run = new DurableRun(record, this.#runSettings(record.endpointId, standIn), journal, interrupted);
      void this.#execute(run, standIn, requestFromSnapshot(record.request), false);
    } catch (error) {
      this.#settings.report("resume", error, runId);
      // Claimed but not ended: hand it back with an expired lease, so it is due (and past the
      // grace) again at once instead of after a fresh lease and grace.
      if (claimed !== undefined) await this.#release(runId, claimed.epoch, 0).catch(() => {});
    }
  }

  /**
   * Delivers an event to waiting runs; resolves with how many were woken once the event is stored
   * with them, without waiting for them to go on: the woken runs are handed the event (a run
   * executing here) or resumed in the background, with errors reported (phases `events`,
   * `resume`), and `waitUntil` keeps that work alive on serverless hosts.
   */
  async deliver(event: DurableEvent): Promise<number> {
    const { store, timers, report, waitUntil } = this.#settings;
    const woken = await store.deliverEvent(event, timers.now());
    if (woken.length === 0) return 0;
    const wake = Promise.all(
      woken.map(async (runId) => {
        const run = this.#active.get(runId);
        // The event is stored: a failure to hand it to the run now is not the sender's; the run
        // reads it from its journal when it is next executed.
        if (run?.executing === true) return run.refreshWaits().catch((error: unknown) => report("events", error, runId));
        // Suspending right now: once it is suspended (and due, since the event set wakeAt), resume it.
        // A run that fails to resume here is due: the next poll finds it. The others go on.
        await this.#settled.get(runId);
        await this.resume(runId).catch((error: unknown) => report("resume", error, runId));
      }),
    )
      .then(() => this.#arm())
      .catch((error: unknown) => report("events", error));
    waitUntil?.(wake);
    return woken.length;
  }

  /**
   * Cancels a run for good, whichever instance executes it (see `cancelRun`, cancel-run.ts): an
   * execution of it in this process has its signal aborted with a `RUN_CANCELLED` error at once,
   * one elsewhere is fenced by the claim. Resolves with whether this call ended the run.
   */
  cancel(runId: string, reason: string): Promise<boolean> {
    const { store, timers, leaseDuration } = this.#settings;
    return cancelRun({ store, timers, owner: this.owner, leaseDuration }, runId, reason, () => this.#active.get(runId)?.cancel(reason));
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
          run.lose(
            new DurableError("STORE_UNAVAILABLE", `Run ${run.runId}: the lease could not be renewed before it expired; this process stops executing the run.`),
          );
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
        const record = await readRunSummary(store, run.runId);
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
  async #release(runId: string, epoch: number, expiresAt = this.#settings.timers.now() - 1): Promise<void> {
    // By default expired as of now (not at 0): the run is due from the moment it is released, so
    // the other processes' polls see it among the runs that became due since their last poll.
    await this.#settings.store.renewLease(runId, this.owner, epoch, expiresAt);
  }

  /** Sets the timer for the next wake time in the future (or the next poll, whichever is first). */
  async #arm(): Promise<void> {
    if (this.#closed) return;
    const { store, timers, pollInterval, report } = this.#settings;
    const asked = timers.now();
    let nextWake: number | null = null;
    try {
      // Only future wake times: runs due already are the polls' (a run this process cannot resume,
      // due long ago, must not turn every timer into the poll interval).
      nextWake = await store.nextWakeAt(asked);
    } catch (error) {
      // Look again at the next poll: a store that is down now must not stop the scheduler for good.
      report("poll", error);
    }
    if (this.#closed) return;
    const now = timers.now();
    // A wake time not after `asked` comes from a store that ignores `after`: it may belong to a run
    // this process cannot resume, so look again at the next poll, not in a busy loop. One that
    // passed while the store answered is due now.
    const due = nextWake !== null && nextWake > asked ? Math.min(nextWake, now + pollInterval) : now + pollInterval;
    if (this.#timer !== undefined && this.#timerDue <= due) return;
    if (this.#timer !== undefined) timers.clearTimeout(this.#timer);
    let timer: unknown;
    try {
      timer = timers.setTimeout(
        () => {
          this.#timer = undefined;
          this.#timerDue = Number.POSITIVE_INFINITY;
          void this.poll();
        },
        Math.max(0, due - now),
      );
    } catch (error) {
      if (!isGlobalScopeRefusal(error)) throw error;
      this.#armRefused = true;
      return;
    }
    this.#timerDue = due;
    this.#timer = timer;
    unrefTimer(this.#timer);
  }

  #runSettings(endpointId: string, registration: Registration): RunSettings {
    const { store, timers, maxInlineWait, maxFramesPerRun, maxLogBytes, maxBufferedBytes, maxResponseBytes, report, stepTimeout, leaseDuration } =
      this.#settings;
    return {
      store,
      timers,
      maxInlineWait,
      maxFramesPerRun,
      maxLogBytes,
      maxBufferedBytes,
      maxResponseBytes,
      report,
      stepTimeout: registration.stepTimeout ?? stepTimeout,
      writeRetryLimit: leaseDuration,
      retryPolicy: registration.retryPolicy,
      where: `durable.endpoint(${endpointId})`,
    };
  }
}

/** A grace period for a message: "1 h", "90 s", "250 ms". */
function formatGrace(milliseconds: number): string {
  if (milliseconds >= 3_600_000 && milliseconds % 3_600_000 === 0) return `${milliseconds / 3_600_000} h`;
  if (milliseconds >= 60_000 && milliseconds % 60_000 === 0) return `${milliseconds / 60_000} min`;
  if (milliseconds >= 1000 && milliseconds % 1000 === 0) return `${milliseconds / 1000} s`;
  return `${milliseconds} ms`;
}

/** The error workerd throws for a timer (or I/O, or random values) set in global scope. */
function isGlobalScopeRefusal(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("Disallowed operation called within global scope");
}
