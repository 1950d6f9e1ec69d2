import { parseRollbackMarks, type LogEntry, type RequestSnapshot, type RunRecord, type RunSummary, type StepRecord } from "@durastream/server/store";
import type { ResponseSnapshot } from "@durastream/protocol";

/** A run hash as Redis returns it: field → value; absent fields are null/undefined values. */
export type RunHash = Record<string, string>;

/** The fields of a run hash (the request and the result are JSON). */
export function runFromHash(hash: RunHash): RunRecord {
  return { ...summaryFromHash(hash), request: JSON.parse(hash.request!) as RequestSnapshot };
}

/**
 * The fields `getRunSummary` reads with one HMGET: all of the run hash but the request (and the
 * store's own `outsidePending` and `keyRef`). `finishedAt` is not in the record; expiry needs it.
 */
export const SUMMARY_FIELDS = [
  "runId",
  "endpointId",
  "status",
  "epoch",
  "owner",
  "leaseExpiresAt",
  "wakeAt",
  "outsideCommitted",
  "frameCount",
  "logBytes",
  "createdAt",
  "updatedAt",
  "finishedAt",
  "result",
  "quietOffset",
  "quietRollbacks",
  "key",
] as const;

/** An HMGET reply (values in the order of `fields`, null for absent ones) as a hash without the absent fields. */
export function hashFromFields(fields: readonly string[], values: readonly (string | null)[]): RunHash {
  const hash: RunHash = {};
  for (let index = 0; index < fields.length; index += 1) {
    const value = values[index];
    if (value !== null && value !== undefined) hash[fields[index]!] = value;
  }
  return hash;
}

/** The fields of a run hash but the request (the result is JSON). */
export function summaryFromHash(hash: RunHash): RunSummary {
  const summary: RunSummary = {
    runId: hash.runId!,
    endpointId: hash.endpointId!,
    status: hash.status as RunRecord["status"],
    epoch: Number(hash.epoch),
    owner: hash.owner ?? null,
    leaseExpiresAt: Number(hash.leaseExpiresAt),
    wakeAt: hash.wakeAt === undefined ? null : Number(hash.wakeAt),
    outsideCommitted: Number(hash.outsideCommitted),
    frameCount: Number(hash.frameCount),
    logBytes: Number(hash.logBytes),
    createdAt: Number(hash.createdAt),
    updatedAt: Number(hash.updatedAt),
  };
  return {
    ...summary,
    ...(hash.result === undefined ? {} : { result: JSON.parse(hash.result) as ResponseSnapshot }),
    ...(hash.quietOffset === undefined ? {} : { quiet: { offset: hash.quietOffset, rollbacks: parseRollbackMarks(hash.quietRollbacks) } }),
    ...(hash.key === undefined ? {} : { key: hash.key }),
  };
}

/** A flat `[field, value, field, value, …]` reply (HGETALL inside a script) as a hash. */
export function hashFromPairs(pairs: readonly string[]): RunHash {
  const hash: RunHash = {};
  for (let index = 0; index + 1 < pairs.length; index += 2) hash[pairs[index]!] = pairs[index + 1]!;
  return hash;
}

/** Whether a run hash describes a run that finished `retention` ago or earlier (it reads as unknown). */
export function isExpired(hash: { readonly status?: string | null; readonly finishedAt?: string | null }, now: number, retention: number): boolean {
  return (
    (hash.status === "succeeded" || hash.status === "failed") &&
    hash.finishedAt !== undefined &&
    hash.finishedAt !== null &&
    Number(hash.finishedAt) + retention <= now
  );
}

/** Journal entries from their JSON, ordered by position. */
export function stepsFromJson(values: readonly string[]): StepRecord[] {
  return values.map((value) => JSON.parse(value) as StepRecord).sort((a, b) => a.position - b.position);
}

/** XRANGE entries `[id, [field, value, …]]` as log entries. */
export function entriesFromStream(entries: ReadonlyArray<[id: string, fields: string[]]>): LogEntry[] {
  const result: LogEntry[] = new Array(entries.length);
  for (let index = 0; index < entries.length; index += 1) {
    const [offset, fields] = entries[index]!;
    let type: string | undefined;
    let payload: string | undefined;
    for (let field = 0; field + 1 < fields.length; field += 2) {
      if (fields[field] === "type") type = fields[field + 1];
      else if (fields[field] === "payload") payload = fields[field + 1];
    }
    result[index] = { offset, type: type as LogEntry["type"], payload: payload ?? "" };
  }
  return result;
}
