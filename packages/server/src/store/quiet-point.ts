import { isOutsideStepPayload } from "@durastream/protocol/internal";
import type { RollbackMark } from "./run-store.js";

/**
 * Whether outside-step chunks are pending after a frame, given whether they were before it: a
 * frame of type `data` whose payload starts with `{"step":null` makes them pending, a `commit` or
 * `rollback` whose payload starts so ends that. Stores track it over their appends to know whether
 * a suspension may move the run's quiet point (see `AppendEffects.suspend`). One character test
 * for most frames (a step's payload has `"` where an outside one has `n`), no allocation.
 *
 * @example
 * ```ts
 * let pending = false;
 * for (const frame of frames) pending = outsidePendingAfter(pending, frame.type, frame.payload);
 * ```
 */
export function outsidePendingAfter(pending: boolean, type: string, payload: string): boolean {
  if (type === "data") return pending || isOutsideStepPayload(payload);
  if (type === "commit" || type === "rollback") return pending && !isOutsideStepPayload(payload);
  return pending;
}

/**
 * The rollback marks of a quiet point as stored (JSON text) by the SQLite and Redis stores.
 *
 * @example
 * ```ts
 * const rollbacks = parseRollbackMarks(row.quiet_rollbacks); // [] for null
 * ```
 */
export function parseRollbackMarks(json: string | null | undefined): RollbackMark[] {
  if (json === null || json === undefined || json === "") return [];
  return (JSON.parse(json) as RollbackMark[]).map(({ hashedStepId, attempt }) => ({ hashedStepId, attempt }));
}

/** The rollback marks as the SQLite and Redis stores keep them: JSON text of exactly these fields. */
export function stringifyRollbackMarks(rollbacks: readonly RollbackMark[]): string {
  return JSON.stringify(rollbacks.map(({ hashedStepId, attempt }) => ({ hashedStepId, attempt })));
}
