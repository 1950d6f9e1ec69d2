import type { LogEntry, NewRun, RunRecord, RunStore, StepRecord } from "@durastream/server/store";

/**
 * What each module of the conformance suite works with: the store of the running test, the test's
 * clock (epoch-milliseconds; tests move it, the store reads it through `now`), and helpers that
 * make runs in common states. `store` and `clock` change for every test: read them inside tests.
 */
export interface ConformanceHarness {
  /** The fresh store of the running test. */
  readonly store: RunStore;
  /** The test's clock; starts at `START` for every test. */
  clock: number;
  /** Creates a run at the current clock, owned by "owner-1" with a lease of `LEASE` ms. */
  createRun(overrides?: Partial<NewRun>): Promise<RunRecord>;
  /** Everything observable about a run, to compare before and after a refused write. */
  observe(runId: string): Promise<{ record: RunRecord | undefined; steps: StepRecord[]; frames: LogEntry[] }>;
  /** A run suspended (in epoch 1, after `frameCount` frames) until `wakeAt`. */
  suspendedRun(wakeAt: number, frameCount?: number): Promise<RunRecord>;
  /** A suspended run whose step at position 0 waits for `event` until `deadline` (when given). */
  waitingRun(event: string, match: Record<string, unknown> | undefined, deadline: number | undefined): Promise<{ runId: string; step: StepRecord }>;
}
