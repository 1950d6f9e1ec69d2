import type { LogFrameType, ResponseSnapshot, WireError } from "@durastream/protocol";

/** Where a run is in its life. */
export type RunStatus = "running" | "succeeded" | "failed";

/** A run as the store keeps it. */
export interface RunRecord {
  readonly runId: string;
  /** The endpoint's id (by default `METHOD /path`). */
  readonly endpointId: string;
  readonly status: RunStatus;
  /** Epoch that offsets written by the current executor carry (see PROTOCOL.md, offsets). */
  readonly epoch: number;
  /** Epoch-milliseconds of creation and last change. */
  readonly createdAt: number;
  readonly updatedAt: number;
  /** The final response, once the run is over. */
  readonly result?: ResponseSnapshot;
}

/** What a new run is created with. */
export interface NewRun {
  readonly runId: string;
  readonly endpointId: string;
  readonly createdAt: number;
}

/** A finished step in a run's journal. */
export interface StepRecord {
  /** Hex SHA-1 of the step id (with its repeat suffix), as on the wire. */
  readonly hashedStepId: string;
  /** The id the handler gave `step.run`. */
  readonly stepId: string;
  readonly status: "succeeded" | "failed";
  /** The step's return value as JSON; absent when it returned `undefined` or failed. */
  readonly output?: string;
  /** The last error, when the step failed for good. */
  readonly error?: WireError;
  /** Attempts made. */
  readonly attempts: number;
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

/** Changes that must become visible atomically with appended frames. */
export interface AppendEffects {
  /** Record a finished step in the journal (written with its commit or final rollback frame). */
  readonly step?: StepRecord;
  /** End the run with this status and response (written with its result frame). */
  readonly finish?: { readonly status: "succeeded" | "failed"; readonly response: ResponseSnapshot };
}

/**
 * Where runs, step journals and frame logs live. The engine relies on these guarantees:
 * - `appendFrames` assigns strictly increasing offsets and makes the frames and `effects`
 *   visible together (a crash leaves all or nothing);
 * - once `appendFrames` resolves, the frames are durable to the store's level of durability,
 *   so the engine sends a commit frame only after the step's output is in the store;
 * - `readFrames` returns frames strictly after an offset, in order;
 * - `subscribe` listeners are called (without arguments, possibly in batches) after frames are appended.
 *
 * @example
 * ```ts
 * const durable = createDurable({ store: new MemoryRunStore() });
 * ```
 */
export interface RunStore {
  /** Creates a run in status `running`. */
  createRun(run: NewRun): Promise<RunRecord>;
  /** The run, or undefined when unknown (or expired). */
  getRun(runId: string): Promise<RunRecord | undefined>;
  /** The run's finished steps, in the order they finished. */
  listSteps(runId: string): Promise<StepRecord[]>;
  /** Appends frames to the run's log, together with `effects`; resolves with the last offset given. */
  appendFrames(runId: string, frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<string>;
  /** Up to `limit` frames strictly after `after` (from the start when undefined), in order. */
  readFrames(runId: string, after: string | undefined, limit: number): Promise<LogEntry[]>;
  /** Calls `listener` whenever frames are appended to the run's log; returns the unsubscribe function. */
  subscribe(runId: string, listener: () => void): () => void;
}
