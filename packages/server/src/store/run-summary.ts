import type { RunStore, RunSummary } from "./run-store.js";

/**
 * The run without its request snapshot: the store's `getRunSummary` when it has one, else
 * `getRun` (whose record is a summary too, with the request).
 *
 * @example
 * ```ts
 * const run = await readRunSummary(store, runId);
 * if (run?.result !== undefined) return responseFromSnapshot(run.result);
 * ```
 */
export function readRunSummary(store: RunStore, runId: string): Promise<RunSummary | undefined> {
  return store.getRunSummary === undefined ? store.getRun(runId) : store.getRunSummary(runId);
}
