import { parseOffset } from "@durastream/protocol";
import { DurableError } from "@durastream/server";
import {
  newRunRecord,
  RunKeyTakenError,
  storedTime,
  StoreRefusedError,
  eventMatches,
  stringifyRollbackMarks,
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
  type StoreErrorReason,
} from "@durastream/server/store";
import { ConnectionGuard } from "./connection-guard.js";
import { connectionName, createClient, describeClient, describeUrl } from "./connection.js";
import { eventWaitsKey, runKeyHolderKey, runKeys, storeKeys, type StoreKeys } from "./keys.js";
import { validateOptions, type RedisRunStoreOptions } from "./options.js";
import { entriesFromStream, hashFromFields, hashFromPairs, isExpired, runFromHash, stepsFromJson, SUMMARY_FIELDS, summaryFromHash } from "./records.js";
import { defineScripts, type ScriptedRedis } from "./scripts.js";
import { RunSubscriptions } from "./subscriptions.js";

export type { RedisRunStoreOptions } from "./options.js";

const DEFAULT_RETENTION = 24 * 60 * 60_000;

/**
 * The Redis `RunStore`, for apps that run on several instances: every instance reads and writes
 * the same runs, step journals and frame logs, so a run started on one instance can be resumed,
 * tailed, woken by an event or taken over (after its executor died) on any other.
 *
 * - Frame logs are Redis Streams whose entry ids are the offsets (`<epoch>-<sequence>`).
 * - Every write is one Lua script, atomic: frames and their effects (journal entry, suspension,
 *   final result) become visible together, and a write from an executor that lost its lease (an
 *   older epoch) changes nothing.
 * - Suspended runs are scheduled in a sorted set by `wakeAt`, running runs in one by lease expiry.
 * - Live tails use pub/sub, with one subscriber connection per store instance.
 * - Finished runs expire (`PEXPIRE`) `retention` after they finished.
 *
 * `appendFrames` resolves once Redis acknowledged the write; how durable that is depends on the
 * server's persistence settings (see the README: AOF with `appendfsync always` or `everysec`).
 *
 * @example
 * ```ts
 * import { createDurable } from "@durastream/server";
 * import { RedisRunStore } from "@durastream/redis";
 *
 * const store = new RedisRunStore({ url: process.env.REDIS_URL, prefix: "chat-app:" });
 * const durable = createDurable({ store });
 * process.on("SIGTERM", () => void store.close());
 * ```
 */
export class RedisRunStore implements RunStore {
  readonly #client: ScriptedRedis;
  readonly #ownsClient: boolean;
  readonly #where: string;
  readonly #prefix: string;
  readonly #keys: StoreKeys;
  readonly #retention: number;
  readonly #now: () => number;
  readonly #subscriptions: RunSubscriptions;
  readonly #tokenPrefix = `${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}:`;
  #tokenCounter = 0;
  readonly #guard: ConnectionGuard;
  #closed = false;

  constructor(options: RedisRunStoreOptions = {}) {
    const { redis, url, prefix, retention, now } = validateOptions(options);
    this.#prefix = prefix ?? "durastream:";
    this.#keys = storeKeys(this.#prefix);
    this.#retention = retention ?? DEFAULT_RETENTION;
    // Times are kept as whole milliseconds, rounded up, as in every store (`storedTime`).
    const clock = now ?? Date.now;
    this.#now = () => storedTime(clock());
    if (redis !== undefined) {
      this.#client = defineScripts(redis);
      this.#ownsClient = false;
      this.#where = describeClient(redis);
    } else {
      const target = url ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
      this.#client = defineScripts(createClient(target, this.#prefix));
      this.#ownsClient = true;
      this.#where = describeUrl(target);
    }
    const client = this.#client;
    this.#guard = new ConnectionGuard(client, this.#where);
    this.#subscriptions = new RunSubscriptions({
      connect: () =>
        client.duplicate({
          autoResubscribe: false,
          enableOfflineQueue: true,
          lazyConnect: false,
          ...(this.#ownsClient ? { connectionName: `${connectionName(this.#prefix)}:subscriber` } : {}),
        }),
      channelOf: (runId) => runKeys(this.#prefix, runId).channel,
      probe: async (runId) => (await client.hmget(runKeys(this.#prefix, runId).run, "frameCount", "status", "wakeAt")).join("|"),
    });
  }

  /** One atomic script. */
  async createRun(run: NewRun): Promise<RunRecord> {
    const keys = runKeys(this.#prefix, run.runId);
    const outcome = await this.#operate(() =>
      this.#client.durastreamCreate(
        keys.run,
        keys.log,
        keys.steps,
        keys.waits,
        keys.applied,
        keys.appliedBefore,
        this.#keys.due,
        this.#keys.leases,
        // Without a key the script does not touch this one: the run hash's name stands in.
        run.key === undefined ? keys.run : runKeyHolderKey(this.#prefix, run.endpointId, run.key),
        this.#prefix,
        run.runId,
        this.#token(),
        this.#now(),
        this.#retention,
        run.endpointId,
        run.owner,
        storedTime(run.leaseExpiresAt),
        JSON.stringify(run.request),
        storedTime(run.createdAt),
        run.key ?? "",
      ),
    );
    if (outcome === "exists") {
      throw new DurableError("RUN_EXISTS", `RedisRunStore: a run with id ${run.runId} exists already; run ids must be unique.`);
    }
    if (outcome.startsWith("key:")) throw new RunKeyTakenError("RedisRunStore", run.endpointId, run.key!, outcome.slice("key:".length));
    return newRunRecord(run);
  }

  /** One read-only script: the key's holder, if its run is active. */
  async findActiveRunByKey(endpointId: string, key: string): Promise<string | undefined> {
    const holder = await this.#operate(() => this.#client.durastreamFindKey(runKeyHolderKey(this.#prefix, endpointId, key), this.#prefix));
    return holder ?? undefined;
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const hash = await this.#operate(() => this.#client.hgetall(runKeys(this.#prefix, runId).run));
    if (hash.status === undefined || isExpired(hash, this.#now(), this.#retention)) return undefined;
    return runFromHash(hash);
  }

  /** One `HMGET` of the fields other than the request, so a large request body is not sent. */
  async getRunSummary(runId: string): Promise<RunSummary | undefined> {
    const values = await this.#operate(() => this.#client.hmget(runKeys(this.#prefix, runId).run, ...SUMMARY_FIELDS));
    const hash = hashFromFields(SUMMARY_FIELDS, values);
    if (hash.status === undefined || isExpired(hash, this.#now(), this.#retention)) return undefined;
    return summaryFromHash(hash);
  }

  async listSteps(runId: string): Promise<StepRecord[]> {
    const keys = runKeys(this.#prefix, runId);
    const [state, steps] = await this.#operate(async () => {
      const replies = await this.#client.multi().hmget(keys.run, "status", "finishedAt").hvals(keys.steps).exec();
      return [resultOf<(string | null)[]>(replies, 0), resultOf<string[]>(replies, 1)] as const;
    });
    if (state[0] === null || isExpired({ status: state[0], finishedAt: state[1] }, this.#now(), this.#retention)) return [];
    return stepsFromJson(steps);
  }

  /** Frames and effects in one atomic script; resolves once Redis acknowledged the write. */
  async appendFrames(runId: string, epoch: number, frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<string> {
    const keys = runKeys(this.#prefix, runId);
    const step = effects?.step;
    const waits = step?.status === "waiting" && step.event !== undefined;
    const finish = effects?.finish;
    const argumentsList: (string | number)[] = [
      keys.run,
      keys.log,
      keys.steps,
      keys.waits,
      keys.applied,
      keys.appliedBefore,
      this.#keys.due,
      this.#keys.leases,
      this.#prefix,
      runId,
      this.#token(),
      this.#now(),
      this.#retention,
      String(epoch),
      effects?.outsideCommitted ?? "",
      step?.hashedStepId ?? "",
      step === undefined ? "" : JSON.stringify(step.wakeAt === undefined ? step : { ...step, wakeAt: storedTime(step.wakeAt) }),
      waits ? "1" : "0",
      waits ? step.event! : "",
      effects?.suspend === undefined ? "" : storedTime(effects.suspend.wakeAt),
      finish?.status ?? "",
      finish === undefined ? "" : JSON.stringify(finish.response),
      0,
      frames.length,
    ];
    let bytes = 0;
    for (const frame of frames) {
      bytes += frame.payload.length;
      argumentsList.push(frame.type, frame.payload);
    }
    argumentsList[22] = bytes; // ARGV[15], after the 8 keys
    argumentsList.push(effects?.quiet === undefined ? "" : stringifyRollbackMarks(effects.quiet.rollbacks));
    // One array, not spread: a batch of many frames would exceed the engine's argument limit.
    const [status, value] = await this.#operate(() => this.#client.durastreamAppend(argumentsList));
    if (status === "refused") throw new StoreRefusedError(value as StoreErrorReason, runId);
    this.#subscriptions.notify(runId);
    return value;
  }

  /**
   * With `maxBytes`, a read-only Lua script walks the stream with `XRANGE … COUNT` in pages sized
   * from the payloads seen so far and counts the bytes in Redis, so frames past the bound are
   * neither sent nor decoded (one round trip, as without it).
   */
  async readFrames(runId: string, after: string | undefined, limit: number, maxBytes?: number): Promise<LogEntry[]> {
    const keys = runKeys(this.#prefix, runId);
    let start = "-";
    if (after !== undefined) {
      const { epoch, sequence } = parseOffset(after);
      start = `(${epoch}-${sequence}`;
    }
    const count = Math.floor(limit);
    if (count > 0 && maxBytes !== undefined && maxBytes < Number.POSITIVE_INFINITY) {
      const [status, finishedAt, entries] = await this.#operate(() =>
        this.#client.durastreamReadFrames(keys.run, keys.log, start, count, Math.max(0, Math.ceil(maxBytes))),
      );
      if (status === null || isExpired({ status, finishedAt }, this.#now(), this.#retention)) throw new StoreRefusedError("unknown-run", runId);
      return entriesFromStream(entries);
    }
    const [state, entries] = await this.#operate(async () => {
      const transaction = this.#client.multi().hmget(keys.run, "status", "finishedAt");
      if (count > 0) transaction.xrange(keys.log, start, "+", "COUNT", count);
      const replies = await transaction.exec();
      return [resultOf<(string | null)[]>(replies, 0), count > 0 ? resultOf<[string, string[]][]>(replies, 1) : []] as const;
    });
    if (state[0] === null || isExpired({ status: state[0], finishedAt: state[1] }, this.#now(), this.#retention)) {
      throw new StoreRefusedError("unknown-run", runId);
    }
    return entriesFromStream(entries);
  }

  /** Listeners hear of appends through any instance on the same Redis and prefix (pub/sub; one subscriber connection per store). */
  subscribe(runId: string, listener: () => void): () => void {
    return this.#subscriptions.subscribe(runId, listener);
  }

  async claimRun(runId: string, owner: string, leaseExpiresAt: number, now: number): Promise<RunRecord | undefined> {
    const keys = runKeys(this.#prefix, runId);
    const pairs = await this.#operate(() =>
      this.#client.durastreamClaim(
        keys.run,
        keys.applied,
        keys.appliedBefore,
        this.#keys.due,
        this.#keys.leases,
        runId,
        this.#token(),
        now,
        owner,
        storedTime(leaseExpiresAt),
        this.#now(),
      ),
    );
    if (pairs.length === 0) return undefined;
    const record = runFromHash(hashFromPairs(pairs));
    // A resent claim that had gone through returns the current record: still ours, unless the run
    // was taken over again since.
    return record.owner === owner && record.status === "running" ? record : undefined;
  }

  async renewLease(runId: string, owner: string, epoch: number, leaseExpiresAt: number): Promise<boolean> {
    const key = runKeys(this.#prefix, runId).run;
    return (await this.#operate(() => this.#client.durastreamRenew(key, this.#keys.leases, runId, owner, String(epoch), storedTime(leaseExpiresAt)))) === 1;
  }

  /** One script reads the due and lease sets by rank from the cursor: O(limit · log N), however many runs are due. */
  async listResumableRuns(now: number, limit: number, after?: ResumableCursor): Promise<ResumableRun[]> {
    const count = Math.max(0, Math.floor(limit));
    if (count === 0) return [];
    const found = await this.#operate(() =>
      this.#client.durastreamResumable(this.#keys.due, this.#keys.leases, this.#prefix, now, count, after === undefined ? "" : after.dueAt, after?.runId ?? ""),
    );
    const runs: ResumableRun[] = [];
    for (let index = 0; index + 2 < found.length; index += 3) {
      runs.push({ runId: found[index]!, dueAt: Number(found[index + 1]), endpointId: found[index + 2]! });
    }
    return runs;
  }

  async nextWakeAt(after?: number): Promise<number | null> {
    const first = await this.#operate(() =>
      after === undefined
        ? this.#client.zrange(this.#keys.due, "0", "0", "WITHSCORES")
        : this.#client.zrangebyscore(this.#keys.due, `(${after}`, "+inf", "WITHSCORES", "LIMIT", 0, 1),
    );
    return first.length < 2 ? null : Number(first[1]);
  }

  /**
   * The candidate waits are read first; each delivery is then a compare-and-set of its journal
   * entry, so a wait that changed in between (rewritten, delivered by another instance) is left alone.
   */
  async deliverEvent(event: DurableEvent, now: number): Promise<string[]> {
    const found = await this.#operate(() => this.#client.durastreamWaits(eventWaitsKey(this.#prefix, event.name), this.#prefix, event.name));
    const output = JSON.stringify({ name: event.name, data: event.data ?? null });
    const deliveries: Promise<string | undefined>[] = [];
    for (let index = 0; index + 2 < found.length; index += 3) {
      const runId = found[index]!;
      const hashedStepId = found[index + 1]!;
      const json = found[index + 2]!;
      const step = JSON.parse(json) as StepRecord;
      if (step.status !== "waiting" || step.event !== event.name) continue;
      // At the deadline the wait's timeout is due (claimRun takes the run): the event is too late.
      if (step.wakeAt !== undefined && step.wakeAt <= now) continue;
      if (!eventMatches(step.match, event)) continue;
      const keys = runKeys(this.#prefix, runId);
      const replacement = JSON.stringify({ ...step, status: "succeeded", output });
      deliveries.push(
        this.#operate(() =>
          this.#client.durastreamDeliver(
            keys.run,
            keys.steps,
            keys.waits,
            keys.applied,
            keys.appliedBefore,
            this.#keys.due,
            this.#prefix,
            runId,
            this.#token(),
            now,
            hashedStepId,
            json,
            replacement,
            event.name,
            step.wakeAt ?? "",
            this.#now(),
          ),
        ).then((delivered) => (delivered === 1 ? runId : undefined)),
      );
    }
    const woken = [...new Set((await Promise.all(deliveries)).filter((runId) => runId !== undefined))];
    for (const runId of woken) this.#subscriptions.notify(runId);
    return woken;
  }

  /**
   * Closes the store's connections: its own command connection (not a client passed as `redis`)
   * and its subscriber connection. Listeners are forgotten; the store cannot be used afterwards.
   * Safe to call twice.
   *
   * @example
   * ```ts
   * process.on("SIGTERM", () => void store.close());
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#guard.close();
    this.#subscriptions.close();
    if (!this.#ownsClient) return;
    const client = this.#client;
    if (client.status === "ready") {
      await client.quit().catch(() => client.disconnect());
    } else {
      client.disconnect();
    }
  }

  /** A token unique to one write call (see scripts.ts: a resent write is applied once). */
  #token(): string {
    this.#tokenCounter += 1;
    return this.#tokenPrefix + this.#tokenCounter.toString(36);
  }

  /** Runs a Redis operation under the connection guard (errors become `STORE_UNAVAILABLE`). */
  #operate<T>(operation: () => Promise<T>): Promise<T> {
    return this.#guard.run(operation);
  }
}

/** The reply of command `index` of a MULTI, or its error thrown. */
function resultOf<T>(replies: [error: Error | null, result: unknown][] | null, index: number): T {
  if (replies === null) throw new Error("the transaction was aborted");
  const [error, result] = replies[index]!;
  if (error !== null) throw error;
  return result as T;
}
