import { InvalidOptionsError } from "@durastream/protocol";
import { DurableError } from "@durastream/server";
import type {
  AppendEffects,
  DurableEvent,
  FrameToAppend,
  LogEntry,
  NewRun,
  ResumableCursor,
  ResumableRun,
  RunRecord,
  RunStore,
  RunSummary,
  StepRecord,
} from "@durastream/server/store";

/** The `RunStore` operations a `FaultyStore` counts and can fail (all but `subscribe`). */
export type FaultyMethod = Exclude<keyof RunStore, "subscribe" | "close" | "ephemeral">;

/** A queued `failNext` / `failAfterNext` rule. */
interface FailRule {
  readonly method: FaultyMethod;
  remaining: number;
  readonly when: ((...args: readonly unknown[]) => boolean) | undefined;
  /** True for `failAfterNext`: the call reaches the inner store, then rejects. */
  readonly afterWrite: boolean;
}

/** A promise that never settles: what a dead process sees. */
function never<T>(): Promise<T> {
  return new Promise<T>(() => {});
}

/**
 * A `RunStore` that wraps another one and injects faults, for fault-tolerance and chaos tests:
 * outages, pauses, single failed calls (before or after the write reaches the store) and the death
 * of the process using it.
 *
 * Faults are checked when a call reaches the wrapper, or, for a call held by `pause()`, when it is
 * released by `resume()`. Several wrappers may share one inner store to model several instances.
 *
 * @example
 * ```ts
 * const memory = new MemoryRunStore();
 * const store = new FaultyStore(memory);
 * const durable = createDurable({ store });
 * store.failNext("appendFrames"); // the next append rejects with STORE_UNAVAILABLE
 * ```
 */
export class FaultyStore implements RunStore {
  /** The wrapped store, which calls reach when no fault stops them. */
  readonly inner: RunStore;

  /** The wrapped store's (see {@link RunStore.ephemeral}). */
  get ephemeral(): boolean | undefined {
    return this.inner.ephemeral;
  }

  /** Calls made per method (counted whether they failed or not). */
  readonly calls: Record<FaultyMethod, number> = {
    createRun: 0,
    getRun: 0,
    getRunSummary: 0,
    listSteps: 0,
    appendFrames: 0,
    readFrames: 0,
    claimRun: 0,
    renewLease: 0,
    listResumableRuns: 0,
    nextWakeAt: 0,
    deliverEvent: 0,
    findActiveRunByKey: 0,
  };

  #down = false;
  #killed = false;
  /** Calls held by `pause()`, in call order; null when not paused. */
  #held: Array<() => void> | null = null;
  #rules: FailRule[] = [];
  /** Unsubscribe functions (from the inner store) of listeners registered through this wrapper. */
  readonly #subscriptions = new Set<() => void>();

  /** Wraps `inner`; no fault is active until one is asked for. */
  constructor(inner: RunStore) {
    this.inner = inner;
  }

  /**
   * Outage: from now on every operation rejects with `DurableError("STORE_UNAVAILABLE", …)` without
   * reaching the inner store, until `restore()`.
   */
  outage(): void {
    this.#down = true;
  }

  /** Ends an outage. */
  restore(): void {
    this.#down = false;
  }

  /**
   * Pause: operations started from now on hang (not reaching the inner store) until `resume()`;
   * then they run in call order against the inner store.
   */
  pause(): void {
    this.#held ??= [];
  }

  /**
   * Ends a pause: the held operations reach the inner store now (synchronously, in call order,
   * before any operation started after this call), with the faults active at this moment.
   */
  resume(): void {
    const held = this.#held;
    this.#held = null;
    for (const run of held ?? []) run();
  }

  /**
   * The next `count` calls of `method` (for which `when(...args)` is true, if given) reject with
   * `STORE_UNAVAILABLE` without reaching the inner store. Several rules may be queued; a call is
   * taken by the first queued rule that matches it.
   */
  failNext<M extends FaultyMethod>(method: M, count = 1, when?: (...args: Parameters<NonNullable<RunStore[M]>>) => boolean): void {
    this.#addRule(method, count, when as FailRule["when"], false);
  }

  /**
   * Like `failNext`, but the call does reach the inner store (the write happens) and then rejects
   * with `STORE_UNAVAILABLE` however the inner call settled: an ambiguous failure, as when a reply
   * is lost.
   */
  failAfterNext<M extends FaultyMethod>(method: M, count = 1, when?: (...args: Parameters<NonNullable<RunStore[M]>>) => boolean): void {
    this.#addRule(method, count, when as FailRule["when"], true);
  }

  /**
   * Kill: simulates that the process using this store died. Every later operation never settles,
   * nor do operations still in flight (a write already sent still happens in the inner store), and
   * listeners registered through this wrapper are unsubscribed from the inner store and never called
   * again. Irreversible.
   */
  kill(): void {
    this.#killed = true;
    this.#held = null;
    for (const unsubscribe of this.#subscriptions) unsubscribe();
    this.#subscriptions.clear();
  }

  createRun(run: NewRun): Promise<RunRecord> {
    return this.#call("createRun", [run]);
  }

  getRun(runId: string): Promise<RunRecord | undefined> {
    return this.#call("getRun", [runId]);
  }

  /** The inner store's `getRunSummary`, or its `getRun` when it has none. */
  getRunSummary(runId: string): Promise<RunSummary | undefined> {
    return this.#call("getRunSummary", [runId]);
  }

  listSteps(runId: string): Promise<StepRecord[]> {
    return this.#call("listSteps", [runId]);
  }

  appendFrames(runId: string, epoch: number, frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<string> {
    return this.#call("appendFrames", [runId, epoch, frames, effects]);
  }

  readFrames(runId: string, after: string | undefined, limit: number, maxBytes?: number): Promise<LogEntry[]> {
    return this.#call("readFrames", [runId, after, limit, maxBytes]);
  }

  /**
   * Delegates to the inner store, unless this wrapper is killed; it returns an unsubscribe function
   * in every state (an outage does not stop notifications).
   */
  subscribe(runId: string, listener: () => void): () => void {
    if (this.#killed) return () => {};
    const unsubscribe = this.inner.subscribe(runId, () => {
      if (!this.#killed) listener();
    });
    this.#subscriptions.add(unsubscribe);
    return () => {
      if (this.#subscriptions.delete(unsubscribe)) unsubscribe();
    };
  }

  claimRun(runId: string, owner: string, leaseExpiresAt: number, now: number): Promise<RunRecord | undefined> {
    return this.#call("claimRun", [runId, owner, leaseExpiresAt, now]);
  }

  renewLease(runId: string, owner: string, epoch: number, leaseExpiresAt: number): Promise<boolean> {
    return this.#call("renewLease", [runId, owner, epoch, leaseExpiresAt]);
  }

  listResumableRuns(now: number, limit: number, after?: ResumableCursor): Promise<ResumableRun[]> {
    return this.#call("listResumableRuns", [now, limit, after]);
  }

  nextWakeAt(after?: number): Promise<number | null> {
    return this.#call("nextWakeAt", [after]);
  }

  deliverEvent(event: DurableEvent, now: number): Promise<string[]> {
    return this.#call("deliverEvent", [event, now]);
  }

  /** The inner store's (see `RunStore.findActiveRunByKey`); rejects when the inner store has none. */
  findActiveRunByKey(endpointId: string, key: string): Promise<string | undefined> {
    return this.#call("findActiveRunByKey", [endpointId, key]);
  }

  #addRule(method: FaultyMethod, count: number, when: FailRule["when"], afterWrite: boolean): void {
    if (!Number.isInteger(count) || count < 1) throw new InvalidOptionsError(`FaultyStore: count must be an integer >= 1, got ${String(count)}.`);
    this.#rules.push({ method, remaining: count, when, afterWrite });
  }

  /** The first queued rule matching this call, consumed once; undefined when none matches. */
  #takeRule(method: FaultyMethod, args: unknown[]): FailRule | undefined {
    const index = this.#rules.findIndex((rule) => rule.method === method && (rule.when === undefined || rule.when(...args)));
    if (index === -1) return undefined;
    const rule = this.#rules[index]!;
    rule.remaining -= 1;
    if (rule.remaining === 0) this.#rules.splice(index, 1);
    return rule;
  }

  #call<T>(method: FaultyMethod, args: unknown[]): Promise<T> {
    this.calls[method] += 1;
    if (this.#killed) return never();
    const held = this.#held;
    if (held === null) return this.#run(method, args);
    return new Promise<T>((resolve, reject) => {
      held.push(() => {
        this.#run<T>(method, args).then(resolve, reject);
      });
    });
  }

  /** Runs one call against the inner store, with the faults active now. */
  #run<T>(method: FaultyMethod, args: unknown[]): Promise<T> {
    if (this.#killed) return never();
    if (this.#down) return Promise.reject(new DurableError("STORE_UNAVAILABLE", `FaultyStore: the store is down (${method})`));
    const rule = this.#takeRule(method, args);
    if (rule !== undefined && !rule.afterWrite) {
      return Promise.reject(new DurableError("STORE_UNAVAILABLE", `FaultyStore: injected failure (${method})`));
    }
    let result: Promise<T>;
    try {
      const call = method === "getRunSummary" && this.inner.getRunSummary === undefined ? this.inner.getRun : this.inner[method];
      result = (call as (...callArgs: unknown[]) => Promise<T>).apply(this.inner, args);
    } catch (error) {
      result = Promise.reject(error);
    }
    if (rule !== undefined) {
      const lost = (): Promise<T> => Promise.reject(new DurableError("STORE_UNAVAILABLE", `FaultyStore: injected failure after the write (${method})`));
      result = result.then(lost, lost);
    }
    // A process that died meanwhile never sees the reply.
    return result.then(
      (value) => (this.#killed ? never<T>() : value),
      (error: unknown) => (this.#killed ? never<T>() : Promise.reject(error)),
    );
  }
}
