import type { RequestSnapshot, RunRecord, RunStatus, StepKind, StepRecord } from "@durastream/server";

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
}

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
  const record: RunRecord = {
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
    request: JSON.parse(row.request) as RequestSnapshot,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  return row.result === null ? record : { ...record, result: JSON.parse(row.result) as NonNullable<RunRecord["result"]> };
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
