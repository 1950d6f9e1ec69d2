import {
  parseRollbackMarks,
  type RequestSnapshot,
  type RunRecord,
  type RunStatus,
  type RunSummary,
  type StepKind,
  type StepRecord,
} from "@durastream/server/store";

/** A row of `runs`. */
export interface RunRow {
  readonly run_id: string;
  readonly endpoint_id: string;
  readonly status: RunStatus;
  readonly epoch: number;
  readonly owner: string | null;
  readonly lease_expires_at: number;
  readonly wake_at: number | null;
  readonly outside_committed: number;
  readonly frame_count: number;
  readonly log_bytes: number;
  readonly request: string;
  readonly created_at: number;
  readonly updated_at: number;
  readonly finished_at: number | null;
  readonly result: string | null;
  /** The quiet point's offset and rollback marks (JSON), NULL before the first. */
  readonly quiet_offset: string | null;
  readonly quiet_rollbacks: string | null;
  /** 1 while outside-step chunks are pending (see `AppendEffects.suspend`). */
  readonly outside_pending: number;
  /** The run's key (`NewRun.key`), NULL without one. */
  readonly run_key: string | null;
}

/** A row of `runs` without the request (and the store's bookkeeping), as `getRunSummary` selects it. */
export type RunSummaryRow = Omit<RunRow, "request" | "outside_pending">;

/** The columns of a `RunSummaryRow`, for its SELECT. */
export const RUN_SUMMARY_COLUMNS =
  "run_id, endpoint_id, status, epoch, owner, lease_expires_at, wake_at, outside_committed, frame_count, log_bytes, created_at, updated_at, finished_at, result, quiet_offset, quiet_rollbacks, run_key";

/** A row of `steps`. */
export interface StepRow {
  readonly run_id: string;
  readonly hashed_step_id: string;
  readonly step_id: string;
  readonly position: number;
  readonly kind: StepKind;
  readonly status: StepRecord["status"];
  readonly output: string | null;
  readonly error: string | null;
  readonly attempts: number;
  readonly retries: number | null;
  readonly wake_at: number | null;
  readonly event: string | null;
  readonly match: string | null;
  readonly waiting: number;
}

/** The run a row describes. */
export function runFromRow(row: RunRow): RunRecord {
  const { result, quiet, key, ...summary } = summaryFromRow(row);
  const record: RunRecord = { ...summary, request: JSON.parse(row.request) as RequestSnapshot };
  return { ...record, ...(result === undefined ? {} : { result }), ...(quiet === undefined ? {} : { quiet }), ...(key === undefined ? {} : { key }) };
}

/** The run a row describes, without its request. */
export function summaryFromRow(row: RunSummaryRow): RunSummary {
  const summary: RunSummary = {
    runId: row.run_id,
    endpointId: row.endpoint_id,
    status: row.status,
    epoch: row.epoch,
    owner: row.owner,
    leaseExpiresAt: row.lease_expires_at,
    wakeAt: row.wake_at,
    outsideCommitted: row.outside_committed,
    frameCount: row.frame_count,
    logBytes: row.log_bytes,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  return {
    ...summary,
    ...(row.result === null ? {} : { result: JSON.parse(row.result) as NonNullable<RunRecord["result"]> }),
    ...(row.quiet_offset === null ? {} : { quiet: { offset: row.quiet_offset, rollbacks: parseRollbackMarks(row.quiet_rollbacks) } }),
    ...(row.run_key === null ? {} : { key: row.run_key }),
  };
}

/** The journal entry a row describes; optional fields are absent when their column is NULL. */
export function stepFromRow(row: StepRow): StepRecord {
  return {
    hashedStepId: row.hashed_step_id,
    stepId: row.step_id,
    position: row.position,
    kind: row.kind,
    status: row.status,
    ...(row.output === null ? {} : { output: row.output }),
    ...(row.error === null ? {} : { error: JSON.parse(row.error) as NonNullable<StepRecord["error"]> }),
    attempts: row.attempts,
    ...(row.retries === null ? {} : { retries: row.retries }),
    ...(row.wake_at === null ? {} : { wakeAt: row.wake_at }),
    ...(row.event === null ? {} : { event: row.event }),
    ...(row.match === null ? {} : { match: JSON.parse(row.match) as Record<string, unknown> }),
  };
}

/** The bind parameters that store a journal entry of `runId`. */
export function stepToRow(runId: string, step: StepRecord): StepRow {
  return {
    run_id: runId,
    hashed_step_id: step.hashedStepId,
    step_id: step.stepId,
    position: step.position,
    kind: step.kind,
    status: step.status,
    output: step.output ?? null,
    error: step.error === undefined ? null : JSON.stringify({ name: step.error.name, message: step.error.message }),
    attempts: step.attempts,
    retries: step.retries ?? null,
    // Whole milliseconds, rounded up, as every time the store keeps (see `storedTime`).
    wake_at: step.wakeAt === undefined ? null : Math.ceil(step.wakeAt),
    event: step.event ?? null,
    match: step.match === undefined ? null : JSON.stringify(step.match),
    // A `waiting` entry registers its wait for deliverEvent; any rewrite to another status ends it.
    waiting: step.status === "waiting" && step.event !== undefined ? 1 : 0,
  };
}
