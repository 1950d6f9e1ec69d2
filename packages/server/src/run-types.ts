import type { RedirectReason } from "@durastream/protocol";
import type { ReportError } from "./background-errors.js";
import type { StepTools, StreamTools } from "./context.js";
import type { RetryPolicy } from "./retry-policy.js";
import type { RunStore } from "./store/run-store.js";
import type { Timers } from "./timers.js";

/** What a durable handler receives as its second argument. */
export interface DurableContext {
  /** This run's id (a ULID). */
  readonly runId: string;
  /** Checkpointed steps (the same object as the importable `step`). */
  readonly step: StepTools;
  /** Streaming to the client (the same object as the importable `stream`). */
  readonly stream: StreamTools;
  /** Aborts when the run is cancelled or this execution stops (suspended, taken over). */
  readonly signal: AbortSignal;
}

/** A durable handler: a Web handler that may use `step` and `stream`. */
export type DurableHandler = (request: Request, context: DurableContext) => unknown;

/** How a run ended. */
export interface RunOutcome {
  readonly status: "succeeded" | "failed";
  /** The handler's own Response (or the one built for its return value or error). */
  readonly response: Response;
}

/** How one execution of a handler stopped. */
export type ExecutionEnd =
  | { readonly kind: "finished"; readonly outcome: RunOutcome }
  | { readonly kind: "suspended"; readonly wakeAt: number; readonly reason: RedirectReason }
  | { readonly kind: "lost" };

/** Engine settings a run executes with. */
export interface RunSettings {
  readonly store: RunStore;
  readonly timers: Timers;
  readonly retryPolicy: readonly (RetryPolicy | undefined)[];
  readonly where: string;
  /** Waits up to this long (ms) happen on the live connection; longer ones suspend the run. */
  readonly maxInlineWait: number;
  readonly maxFramesPerRun: number;
  readonly maxLogBytes: number;
  /**
   * Bound on the run's chunks queued for the store and not yet stored (UTF-16 code units plus
   * 64 per frame): pipes stop pulling above it, `stream.ready` waits, and `stream.push` throws
   * `BACKPRESSURE` above `PUSH_LIMIT_FACTOR` (run-output.ts) times it. Default 8 MiB.
   */
  readonly maxBufferedBytes?: number;
  /** Most bytes of the handler's response body read into the result; past it the run fails with `RESPONSE_TOO_LARGE`. Default 16 MiB. */
  readonly maxResponseBytes?: number;
  /** Where background errors go (store writes that failed and are retried). */
  readonly report: ReportError;
  /** Default longest step attempt, ms; undefined for none. */
  readonly stepTimeout: number | undefined;
  /** How long a write the run cannot go on without (a rollback, a result) is retried while the store fails, ms. */
  readonly writeRetryLimit: number;
}
