import type { ReportError } from "./background-errors.js";
import type { LiveStreams } from "./log-stream.js";
import type { RunStore, RunSummary } from "./store/run-store.js";
import { readRunSummary } from "./store/run-summary.js";
import type { Timers } from "./timers.js";

/** What waiting for a run's result needs. */
export interface RunResultWaitSettings {
  readonly store: RunStore;
  readonly timers: Timers;
  readonly report: ReportError;
  readonly live: LiveStreams;
}

/**
 * Waits for a run to have its final response: re-reads the run's summary after each append to it
 * (without its request body: a 1 MB body is not read once per chunk), with at most one read in
 * flight (appends during a read get one more read after it). Resolves with the latest summary (its
 * `result` set) once it ends, with `undefined` when the run is gone, or with the latest summary
 * still without a result after `timeout` milliseconds (`Infinity`: no limit), when `signal`
 * aborts (the client went away) or at shutdown. A failed read is reported (`long-poll`) and the
 * wait goes on until the next append or the time limit.
 */
export function waitForRunResult(settings: RunResultWaitSettings, record: RunSummary, signal: AbortSignal, timeout: number): Promise<RunSummary | undefined> {
  const { store, timers, report, live } = settings;
  if (record.result !== undefined) return Promise.resolve(record);
  return new Promise<RunSummary | undefined>((resolve) => {
    const current: RunSummary | undefined = record;
    let settled = false;
    let checking = false;
    let checkAgain = false;
    let timer: unknown;
    let stopLive: () => void = () => {};
    const finish = (value: RunSummary | undefined) => {
      if (settled) return;
      settled = true;
      unsubscribe();
      stopLive();
      if (timer !== undefined) timers.clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(value);
    };
    const check = () => {
      if (settled) return;
      if (checking) {
        checkAgain = true;
        return;
      }
      checking = true;
      Promise.resolve()
        .then(() => readRunSummary(store, record.runId))
        .then(
          (latest) => {
            if (latest === undefined || latest.result !== undefined) finish(latest);
          },
          (error: unknown) => report("long-poll", error, record.runId),
        )
        .finally(() => {
          checking = false;
          if (!checkAgain) return;
          checkAgain = false;
          check();
        });
    };
    const unsubscribe = store.subscribe(record.runId, check);
    if (Number.isFinite(timeout)) timer = timers.setTimeout(() => finish(current), timeout);
    const onAbort = () => finish(current);
    signal.addEventListener("abort", onAbort, { once: true });
    // At shutdown: the caller answers at once (a 303 or a 202 with where to poll again).
    stopLive = live.add({ redirect: () => finish(current), end: () => finish(current) });
    check();
  });
}
