import { DurableError, describeError } from "./errors.js";

/**
 * Where a background error happened:
 * - `poll`: looking for due runs (`listResumableRuns`, `nextWakeAt`);
 * - `resume`: claiming a run and preparing its re-execution (`getRun`, `claimRun`, the takeover scan);
 * - `settle`: after an execution suspended or finished (checking whether it is due again);
 * - `lease`: renewing or releasing a run's lease;
 * - `write`: storing frames or journal entries (the step attempt fails and is retried);
 * - `finish`: storing a run's result;
 * - `events`: `durable.send` deliveries seen by a waiting execution;
 * - `long-poll`: the wait endpoint's check for a run's result;
 * - `log-read`: reading a run's log for a live connection (the read is retried);
 * - `shutdown`: `durable.close()` handing runs over and closing the store;
 * - `handler`, `body`: the Node adapter (`serveEndpoint`): a handler that threw, a body that failed mid-stream.
 */
export type ErrorPhase = "poll" | "resume" | "settle" | "lease" | "write" | "finish" | "events" | "long-poll" | "log-read" | "shutdown" | "handler" | "body";

/** A background error, as `onError` receives it. */
export interface BackgroundError {
  /** What was thrown: usually a `DurableError` (`STORE_UNAVAILABLE` while the store is down). */
  readonly error: unknown;
  /** Where it happened. */
  readonly phase: ErrorPhase;
  /** The run concerned, when there is one. */
  readonly runId?: string;
}

/** Receives background errors; see `createDurable({ onError })`. */
export type ErrorHandler = (report: BackgroundError) => void;

/** Reports a background error; never throws. */
export type ReportError = (phase: ErrorPhase, error: unknown, runId?: string) => void;

/** With no `onError`, each kind of error is logged at most once per this many milliseconds. */
const LOG_INTERVAL = 60_000;

/**
 * Builds the engine's error reporter. With `onError`, every error goes to it (a throwing
 * `onError` is ignored). Without, errors are logged with `console.error`, at most once per kind
 * (phase and error code or name) per `LOG_INTERVAL`, with the number of similar errors left
 * unlogged since; nothing is ever thrown into the event loop.
 */
export function createErrorReporter(onError: ErrorHandler | undefined, now: () => number, log: (line: string) => void = defaultLog): ReportError {
  if (onError !== undefined) {
    return (phase, error, runId) => {
      try {
        onError(runId === undefined ? { error, phase } : { error, phase, runId });
      } catch {
        // A failing error handler must not take the engine down.
      }
    };
  }
  const kinds = new Map<string, { loggedAt: number; unlogged: number }>();
  return (phase, error, runId) => {
    try {
      const described = describeError(error);
      const kind = `${phase}:${DurableError.isInstance(error) ? error.code : described.name}`;
      const time = now();
      const seen = kinds.get(kind);
      if (seen !== undefined && time - seen.loggedAt < LOG_INTERVAL) {
        seen.unlogged += 1;
        return;
      }
      const more = seen !== undefined && seen.unlogged > 0 ? ` (${seen.unlogged} more like it since the last report)` : "";
      kinds.set(kind, { loggedAt: time, unlogged: 0 });
      log(
        `[durastream] ${phase} error${runId === undefined ? "" : ` (run ${runId})`}: ${described.name}: ${described.message}${more}. Pass createDurable({ onError }) to handle these yourself.`,
      );
    } catch {
      // Logging must never throw either.
    }
  };
}

function defaultLog(line: string): void {
  console.error(line);
}
