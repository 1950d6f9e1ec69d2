import type { LogFrameType, RequestSnapshot, ResponseSnapshot, WireError } from "@durastream/protocol";

/**
 * Where a run is in its life: `running` (a process executes it and holds its lease), `suspended`
 * (waiting for `wakeAt`: a sleep, an event, a long retry backoff), or over.
 */
export type RunStatus = "running" | "suspended" | "succeeded" | "failed";

/** The request a run was started with (defined by the protocol package, next to `ResponseSnapshot`). */
export type { RequestSnapshot };

/** A run as the store keeps it. */
export interface RunRecord {
  readonly runId: string;
  /** The endpoint's id (by default `METHOD /path`); the engine finds the handler by it. */
  readonly endpointId: string;
  readonly status: RunStatus;
  /**
   * Generation of the executor. Grows by one each time a run is claimed, and is the epoch part of
   * the offsets that executor writes (see PROTOCOL.md, offsets). Writes carry it for fencing.
   */
  readonly epoch: number;
  /** The process executing the run (an opaque id), or null while suspended or over. */
  readonly owner: string | null;
  /** Until when the owner's lease holds, epoch-milliseconds. */
  readonly leaseExpiresAt: number;
  /**
   * When a suspended run is due to be resumed, epoch-milliseconds. Null while running, except after
   * an event was delivered to a running run (then it is the delivery time, so that a suspension
   * that follows wakes at once); cleared by `claimRun` and when the run is over.
   */
  readonly wakeAt: number | null;
  /** How many data frames streamed outside steps are committed (replay does not send them again). */
  readonly outsideCommitted: number;
  /** Frames in the log, and the sum of their payload lengths (UTF-16 code units); limits use them. */
  readonly frameCount: number;
  readonly logBytes: number;
  readonly request: RequestSnapshot;
  /** Epoch-milliseconds of creation and last change. */
  readonly createdAt: number;
  readonly updatedAt: number;
  /** The final response, once the run is over. */
  readonly result?: ResponseSnapshot;
  /**
   * The run's key (`NewRun.key`), absent when it was created without one. While the run is active
   * (`running` or `suspended`) no other run of the same endpoint may be created with this key.
   */
  readonly key?: string;
  /**
   * Where a takeover's scan of the log for interrupted step attempts starts (see
   * {@link QuietPoint}); absent until the store first records one (then the scan reads the whole
   * log). Set by appends with `quiet` or `suspend` effects.
   */
  readonly quiet?: QuietPoint;
}

/**
 * A point of a run's log where nothing is open: every data frame before it is followed, still
 * before it, by a commit or rollback frame of its step (outside-step chunks: of `step: null`).
 * A takeover reads only the frames after it to find what an interrupted execution left open, so
 * its cost follows that execution, not the whole log. The store records it:
 * - with an append whose effects carry `quiet` (a takeover's rollback frames for everything it
 *   found open): `offset` is the end of the log after that append, `rollbacks` as given;
 * - with an append whose effects carry `suspend`, unless outside-step chunks are pending (see
 *   `AppendEffects.suspend`): `offset` moves to the end of the log, `rollbacks` stay (none if
 *   there was no quiet point yet). The engine suspends a run only once no step attempt is open.
 *
 * A store that never records one is still correct: takeovers then read the whole log.
 */
export interface QuietPoint {
  /**
   * `"<epoch>-<frameCount>"` of the append that recorded it (the run's epoch then, the log's frame
   * count after it): it sorts after every frame the log had then and before every later one, so
   * `readFrames(runId, offset, …)` returns exactly the frames appended since.
   */
  readonly offset: string;
  /**
   * What a takeover needs to know of the rollback frames at or before `offset`, as the takeover
   * that recorded the quiet point wrote it (kept by the store as given): the attempt of a step's
   * last rollback frame, for the steps a later takeover may need it for (outside-step chunks; an
   * attempt a takeover rolled back whose step has not run again). The journal tells the rest.
   */
  readonly rollbacks: readonly RollbackMark[];
}

/** A step's last rolled-back attempt, as a quiet point keeps it. */
export interface RollbackMark {
  /** The step's hashed id; null for chunks outside steps. */
  readonly hashedStepId: string | null;
  readonly attempt: number;
}

/**
 * A run record without its request snapshot, whose body may be large (up to `maxBodyBytes`):
 * what `RunStore.getRunSummary` reads for checks that do not need the request.
 */
export type RunSummary = Omit<RunRecord, "request">;

/** What a new run is created with. It starts `running`, in epoch 1, owned by `owner`. */
export interface NewRun {
  readonly runId: string;
  readonly endpointId: string;
  readonly createdAt: number;
  readonly request: RequestSnapshot;
  readonly owner: string;
  readonly leaseExpiresAt: number;
  /**
   * A key for the run, unique among the active (`running` or `suspended`) runs of `endpointId`:
   * `createRun` rejects with a `RunKeyTakenError` while another active run of the endpoint
   * holds it, and the key is free again once that run is over (whatever its status) or gone.
   * Keys of different endpoints never collide. The engine passes non-empty, well-formed strings of
   * at most `MAX_RUN_KEY_BYTES` UTF-8 bytes (see `durable.endpoint(handler, { key })`).
   */
  readonly key?: string;
}

/** What a journal entry records. */
export type StepKind = "run" | "sleep" | "wait-for-event";

/**
 * One entry of a run's step journal, keyed by `hashedStepId`. Written (and rewritten: an upsert)
 * by the engine as a step progresses:
 * - `run` steps: `running` (attempt `attempts` has started: written before the attempt runs, so an
 *   attempt that takes its process down still counts), `succeeded` with `output`, `failed` with
 *   `error`, or `retrying` (a failed attempt, rolled back; `attempts` made so far, and `wakeAt`
 *   when its backoff suspended the run);
 * - `sleep` steps: `sleeping` until `wakeAt` (done once the clock has passed it);
 * - `wait-for-event` steps: `waiting` for `event` (matching `match`) until `wakeAt`, then
 *   `succeeded` with the event (or `null` on timeout) as `output`.
 */
export interface StepRecord {
  /** Hex SHA-1 of the step id (with its repeat suffix), as on the wire. */
  readonly hashedStepId: string;
  /** The id the handler gave. */
  readonly stepId: string;
  /** Order in which the handler called the step (0, 1, …); replay checks it for determinism. */
  readonly position: number;
  readonly kind: StepKind;
  readonly status: "running" | "succeeded" | "failed" | "retrying" | "sleeping" | "waiting";
  /** The result as JSON; absent when `undefined` or not finished. */
  readonly output?: string;
  /** The last error of a failed or retrying step. */
  readonly error?: WireError;
  /** Attempts made (run steps). */
  readonly attempts: number;
  /**
   * The retries the step may make (its retry policy), on `running` entries: a takeover that finds
   * the attempt interrupted tells clients whether it runs again.
   */
  readonly retries?: number;
  /** Sleep end, wait deadline, or next retry, epoch-milliseconds. */
  readonly wakeAt?: number;
  /** Event name a `waiting` step waits for. */
  readonly event?: string;
  /** Dot-paths into the event and the values they must equal, e.g. `{ "data.orderId": "o1" }`. */
  readonly match?: Readonly<Record<string, unknown>>;
}

/** A frame as written to the log: its type and its JSON payload (the SSE `data:` line). */
export interface FrameToAppend {
  readonly type: LogFrameType;
  readonly payload: string;
}

/** A frame as read back from the log, with the offset the store gave it. */
export interface LogEntry extends FrameToAppend {
  /** `"<epoch>-<sequence>"`, the SSE `id:`. */
  readonly offset: string;
}

/** Changes that become visible atomically with appended frames. */
export interface AppendEffects {
  /** Upsert this journal entry (by `hashedStepId`). A `waiting` entry also registers the wait for `deliverEvent`. */
  readonly step?: StepRecord;
  /** Set the count of committed outside-step data frames. */
  readonly outsideCommitted?: number;
  /** End the run with this status and response (written with its result frame). Clears owner, wakeAt and waits. */
  readonly finish?: { readonly status: "succeeded" | "failed"; readonly response: ResponseSnapshot };
  /**
   * Suspend the run: status `suspended`, owner cleared, and `wakeAt` set to the earlier of this
   * `wakeAt` and the run's current `wakeAt` when that is not null (an event delivered while the run
   * was still running set it: the run must then wake at once).
   *
   * It also moves the run's quiet point (`RunRecord.quiet`) to the end of the log, keeping its
   * `rollbacks` (none when there was no quiet point), unless outside-step chunks are pending after
   * this append's frames. They are pending from a frame of type `data` whose payload starts with
   * `{"step":null` until a frame of type `commit` or `rollback` whose payload starts so too (or an
   * append with `quiet`). Steps need no such check (an execution suspends only once none of its
   * step attempts is open), but outside-step chunks are committed by a later write that may have
   * failed, and then the next takeover must still find them.
   */
  readonly suspend?: { readonly wakeAt: number };
  /**
   * Record a quiet point at the end of the log after this append (see {@link QuietPoint}):
   * `RunRecord.quiet` becomes `{ offset: "<epoch>-<frameCount>", rollbacks }`, and no outside-step
   * chunks are pending any more. Sent by a takeover with the rollback frames it writes for every
   * step attempt it found open (possibly none), as the executor of the run's new epoch.
   */
  readonly quiet?: { readonly rollbacks: readonly RollbackMark[] };
}

/** An event for `waitForEvent`. */
export interface DurableEvent {
  readonly name: string;
  readonly data?: unknown;
}

/** A run the scheduler may resume. */
export interface ResumableRun {
  readonly runId: string;
  readonly endpointId: string;
  /**
   * Since when the run is resumable, epoch-milliseconds: a suspended run's `wakeAt`, a running
   * run's `leaseExpiresAt` (claimable from the next millisecond). The scheduler ends a run whose
   * endpoint nobody registered once it has been due for `orphanGrace`.
   */
  readonly dueAt: number;
}

/**
 * A position in the order of `listResumableRuns` (by `dueAt`, then `runId`): the last run of the
 * previous page, to list the runs strictly after it. `{ dueAt: t, runId: "" }` starts at `t`.
 */
export type ResumableCursor = Pick<ResumableRun, "dueAt" | "runId">;

/** Why a store refused a write. */
export type StoreErrorReason = "fenced" | "over" | "unknown-run";

/**
 * Where runs, step journals and frame logs live. Three implementations share one conformance
 * suite: `MemoryRunStore` (this package), the SQLite store (`@durastream/sqlite`) and the Redis store.
 *
 * The engine relies on these guarantees:
 * - `appendFrames` gives strictly increasing offsets `"<epoch>-<sequence>"` (epoch = the run's
 *   current epoch; sequence grows across epochs too) and makes frames and effects visible together;
 * - once `appendFrames` resolves, frames and effects are as durable as the store is, so the engine
 *   sends a commit frame only after the step's output is stored;
 * - a write whose `epoch` is not the run's current epoch is refused (fencing), as is a write to a
 *   run that is over; a refused write changes nothing;
 * - `readFrames` returns frames strictly after an offset, in order, including after a takeover,
 *   bounded by a frame count and optionally by payload size (always at least one frame);
 * - `subscribe` listeners are called (without arguments, possibly batched) after frames are appended.
 * - times (`wakeAt` of runs and journal entries, `leaseExpiresAt`, `createdAt`, `updatedAt`) are
 *   kept as whole milliseconds, rounded up (`storedTime`): a fractional duration such as
 *   `step.sleep("x", 10.5)` or `"0.0015s"` is accepted by every store and never wakes a run early.
 *
 * @example
 * ```ts
 * const durable = createDurable({ store: new MemoryRunStore() });
 * ```
 */
export interface RunStore {
  /**
   * Creates a run: status `running`, epoch 1, owned by `run.owner`. Rejects with a `DurableError`
   * `RUN_EXISTS` (changing nothing) when a run with this id exists and has not expired.
   *
   * With `run.key`: atomically with the creation, the key is taken for `run.endpointId`. When an
   * active (`running` or `suspended`) run of that endpoint holds it already, rejects with a
   * `RunKeyTakenError` carrying that run's id (`activeRunId`), changing nothing; of several
   * concurrent creations with one key, exactly one succeeds. The run holds the key until the
   * append that finishes it (`effects.finish`), so a finished or expired run never blocks a key.
   */
  createRun(run: NewRun): Promise<RunRecord>;
  /**
   * The id of the active (`running` or `suspended`) run of `endpointId` that holds `key` (see
   * `NewRun.key`), or undefined when none does. Optional: a store without it does not support run
   * keys, and `durable.endpoint(handler, { key })` refuses it (`INVALID_OPTIONS`); a store that has
   * it must honour `NewRun.key` in `createRun`. (Memory: a map; SQLite: a unique partial index;
   * Redis: one string key per held key, set by the creating script and deleted by the finishing one.)
   */
  findActiveRunByKey?(endpointId: string, key: string): Promise<string | undefined>;
  /** The run, or undefined when unknown (or expired). */
  getRun(runId: string): Promise<RunRecord | undefined>;
  /**
   * Optional: the run without its request snapshot (`getRun` minus `request`), or undefined when
   * unknown (or expired). Reads only what it returns: the request body, up to `maxBodyBytes`, is
   * not read. The wait endpoint's long-poll calls it on every append to the run, and the scheduler
   * before claiming a run; a store without it gets `getRun` there instead. (Redis: one `HMGET`.)
   */
  getRunSummary?(runId: string): Promise<RunSummary | undefined>;
  /** The run's journal, ordered by `position`. */
  listSteps(runId: string): Promise<StepRecord[]>;
  /**
   * Appends frames (possibly none) to the run's log with `effects`, as the executor of `epoch`.
   * Resolves with the last offset given ("" when no frames). Rejects with a `DurableError` of code
   * `STORE_REFUSED` (reason `fenced`, `over` or `unknown-run`) without changing anything.
   */
  appendFrames(runId: string, epoch: number, frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<string>;
  /**
   * Up to `limit` frames strictly after `after` (from the start when undefined), in order.
   *
   * With `maxBytes`, the read also stops at the frame with which the payloads read so far reach
   * `maxBytes` (payload lengths in UTF-16 code units, as `logBytes` counts them), but it always
   * returns at least one frame when one follows `after`, so readers make progress whatever a frame's
   * size. A frame is thus returned when it is the first one or when the payloads before it in the
   * read sum to less than `maxBytes`: the result holds fewer than `maxBytes` plus one frame's length.
   * This bounds the text one read builds (V8 strings hold at most 2^29 - 24 code units). Without
   * `maxBytes` (or with `Infinity`) only `limit` bounds the read.
   *
   * @example
   * ```ts
   * // At most 512 frames, and about 4 MiB of payload unless one frame alone is larger.
   * const entries = await store.readFrames(runId, lastOffset, 512, 4 * 1024 * 1024);
   * ```
   */
  readFrames(runId: string, after: string | undefined, limit: number, maxBytes?: number): Promise<LogEntry[]>;
  /** Calls `listener` whenever frames are appended to the run's log; returns the unsubscribe function. */
  subscribe(runId: string, listener: () => void): () => void;
  /**
   * Takes a run over for `owner`, when it may be: it is `suspended` and due (`wakeAt <= now`), or
   * `running` but its owner's lease has expired (or the store knows the owner is dead). The epoch
   * grows by one. Resolves with the claimed record, or undefined when the run is not claimable.
   */
  claimRun(runId: string, owner: string, leaseExpiresAt: number, now: number): Promise<RunRecord | undefined>;
  /** Extends the lease of the run's executor; false when `owner`/`epoch` no longer hold it. */
  renewLease(runId: string, owner: string, epoch: number, leaseExpiresAt: number): Promise<boolean>;
  /**
   * One page of the runs that `claimRun` would accept at `now`: at most `limit`, ordered by
   * `dueAt` (longest due first), then by `runId` (in UTF-8 byte order, as SQLite and Redis compare
   * strings), and only those strictly after `after` in that order when it is given. The scheduler
   * pages through the due runs with it, so runs it cannot resume (their endpoint is registered
   * elsewhere, or nowhere) never hide the others.
   *
   * The work must be bounded by the page, not by the number of due runs: every poll of every
   * instance calls it. (Memory store: a scan of its runs; SQLite: two index ranges; Redis:
   * `ZRANGE` by rank from the cursor on the due and lease sets.)
   */
  listResumableRuns(now: number, limit: number, after?: ResumableCursor): Promise<ResumableRun[]>;
  /**
   * The earliest `wakeAt` among suspended runs, or null when none is suspended; with `after`, the
   * earliest one later than `after` (the scheduler asks for the next wake time in the future:
   * runs due already are found by `listResumableRuns`).
   */
  nextWakeAt(after?: number): Promise<number | null>;
  /**
   * Delivers an event to every `waiting` step whose `event` is `event.name`, whose `match` holds,
   * and whose deadline has not passed: each such entry becomes `succeeded` with the event (as
   * JSON `{ name, data }`, with `data: null` when the event has none) as output, its wait is removed, and its run's `wakeAt` becomes `now`
   * (also while the run is `running`: a suspension that follows then wakes at once). Subscribers of
   * each woken run are notified (as after an append), so an executor waiting in-process on another
   * instance learns of the delivery. Resolves with the ids of the runs woken.
   */
  deliverEvent(event: DurableEvent, now: number): Promise<string[]>;
  /**
   * True when runs live only in this process's memory (`MemoryRunStore`): they cannot outlive it,
   * so an endpoint may go without an explicit `id`. Absent or false for a store that keeps runs
   * across restarts or instances (SQLite, Redis, your own): there every endpoint must have an `id`,
   * because a process resumes the runs it finds by their endpoint id before any request arrives.
   */
  readonly ephemeral?: boolean;
  /**
   * Optional: closes the store's connections or files. `durable.close()` calls it last, once its
   * runs are handed over and its live streams have ended.
   */
  close?(): void | Promise<void>;
}
