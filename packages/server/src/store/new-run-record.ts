import type { NewRun, RunRecord } from "./run-store.js";

/**
 * The record of a run just created: status `running`, epoch 1, owned by `run.owner`, nothing
 * streamed yet. Stores use it so every store starts a run the same way.
 *
 * @example
 * ```ts
 * const record = newRunRecord({ runId, endpointId, createdAt: Date.now(), request, owner, leaseExpiresAt });
 * ```
 */
export function newRunRecord(run: NewRun): RunRecord {
  return {
    runId: run.runId,
    endpointId: run.endpointId,
    status: "running",
    epoch: 1,
    owner: run.owner,
    leaseExpiresAt: run.leaseExpiresAt,
    wakeAt: null,
    outsideCommitted: 0,
    frameCount: 0,
    logBytes: 0,
    request: run.request,
    createdAt: run.createdAt,
    updatedAt: run.createdAt,
  };
}
