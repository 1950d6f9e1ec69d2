import { runKeyIndex } from "@durastream/server/store";

/**
 * The Redis keys and the pub/sub channel of one run, and the store-wide keys, all under `prefix`.
 * README.md ("What is stored") lists them; the Lua scripts build the per-event keys themselves
 * (`<prefix>event-waits:<event>`), so a change here must be mirrored there.
 */
export interface RunKeys {
  /** Hash: the run record (request and result as JSON). */
  readonly run: string;
  /** Stream: the frame log; entry ids are the offsets `<epoch>-<sequence>`. */
  readonly log: string;
  /** Hash: hashedStepId → StepRecord JSON. */
  readonly steps: string;
  /** Hash: hashedStepId → event name, for the run's `waiting` entries. */
  readonly waits: string;
  /**
   * Hashes token → result of the latest writes applied to the run (current and previous
   * generation), so that a resent write is not applied twice.
   */
  readonly applied: string;
  readonly appliedBefore: string;
  /** Pub/sub channel: a message after every write that a tail or an executor may wait for. */
  readonly channel: string;
}

/** Store-wide keys. */
export interface StoreKeys {
  /** Sorted set: suspended runs by `wakeAt`. */
  readonly due: string;
  /** Sorted set: running runs by `leaseExpiresAt`. */
  readonly leases: string;
}

/** The keys of `runId` under `prefix`. */
export function runKeys(prefix: string, runId: string): RunKeys {
  return {
    run: `${prefix}run:${runId}`,
    log: `${prefix}log:${runId}`,
    steps: `${prefix}steps:${runId}`,
    waits: `${prefix}run-waits:${runId}`,
    applied: `${prefix}applied:${runId}`,
    appliedBefore: `${prefix}applied-before:${runId}`,
    channel: `${prefix}notify:${runId}`,
  };
}

/** The store-wide keys under `prefix`. */
export function storeKeys(prefix: string): StoreKeys {
  return { due: `${prefix}due`, leases: `${prefix}leases` };
}

/** The set of runs with a step waiting for `event`. */
export function eventWaitsKey(prefix: string, event: string): string {
  return `${prefix}event-waits:${event}`;
}

/** The string key naming the active run that holds `key` for `endpointId` (`NewRun.key`). */
export function runKeyHolderKey(prefix: string, endpointId: string, key: string): string {
  return `${prefix}run-key:${runKeyIndex(endpointId, key)}`;
}
