import type { NewRun, RunRecord } from "./run-store.js";

/**
 * The record of a run just created: status `running`, epoch 1, owned by `run.owner`, nothing
 * streamed yet, with `run.key` when it has one. Stores use it so every store starts a run the same way.
 *
 * @example
 * ```ts
 * const record = newRunRecord({ runId, endpointId, createdAt: Date.now(), request, owner, leaseExpiresAt });
 * ```
 */
export function newRunRecord(run: NewRun): RunRecord {
  const record: RunRecord = {
    runId: run.runId,
    endpointId: run.endpointId,
    status: "running",
    epoch: 1,
    owner: run.owner,
    leaseExpiresAt: storedTime(run.leaseExpiresAt),
    wakeAt: null,
    outsideCommitted: 0,
    frameCount: 0,
    logBytes: 0,
    request: run.request,
    createdAt: storedTime(run.createdAt),
    updatedAt: storedTime(run.createdAt),
  };
  return run.key === undefined ? record : { ...record, key: run.key };
}

/**
 * A time as stores keep it: whole epoch-milliseconds, rounded up. Durations may be fractional
 * (`step.sleep("x", 10.5)`, `"0.0015s"`, a backoff function's result), and a SQL store keeps
 * times in INTEGER columns; every store rounds the same way (the conformance suite checks it), and
 * rounding up never wakes a run early.
 *
 * @example
 * ```ts
 * storedTime(1_000.2); // 1_001
 * ```
 */
export function storedTime(milliseconds: number): number {
  return Math.ceil(milliseconds);
}
