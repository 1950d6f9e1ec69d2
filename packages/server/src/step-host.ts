import type { RedirectReason } from "@durastream/protocol";
import type { RunScopeOwner } from "./context.js";
import type { InFlight } from "./in-flight.js";
import type { ResolvedRetryPolicy } from "./retry-policy.js";
import type { RunLogWriter } from "./run-log-writer.js";
import type { RunSettings } from "./run-types.js";
import type { EnteredStep } from "./step-journal.js";
import type { AppendEffects, FrameToAppend, StepRecord } from "./store/run-store.js";
import type { Suspension } from "./suspension.js";

/**
 * What the step tools (step-run.ts, step-waits.ts) need of the execution they run in: a
 * `DurableRun` hands them one of these, so they reach its state and writes without the rest.
 */
export interface StepHost {
  readonly runId: string;
  readonly settings: RunSettings;
  readonly writer: RunLogWriter;
  /** The run's signal: aborts when the run is cancelled or this execution stops. */
  readonly signal: AbortSignal;
  /** What `step` and `stream` find in AsyncLocalStorage while an attempt runs. */
  readonly scopeOwner: RunScopeOwner;
  /** The retry policy of a step that sets none of its own. */
  readonly defaultPolicy: ResolvedRetryPolicy;
  /** Attempts a takeover scan found interrupted, per hashed step id (logs from before attempts were on record). */
  readonly interruptedAttempts: ReadonlyMap<string, number>;
  /** When the run suspends: its `working` count (step work that is not a blocking wait) and its waits. */
  readonly suspension: Suspension;
  /** Step attempts between their start record and their commit or rollback (a drain waits for them). */
  readonly attempts: InFlight;
  /** Whether the execution is still running the handler. */
  executing(): boolean;
  /** Whether a new attempt may start: executing and not draining for a shutdown. */
  accepting(): boolean;
  /** While an event wait is pending, listens for deliveries to the run (from `durable.send`). */
  watchDeliveries(): void;
  enterStep(id: unknown, what: string): Promise<EnteredStep>;
  /** A write the run cannot go on without; never settles if this execution stops. */
  storeOrStop(frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<void>;
  /** A write with a journal entry; rejects if the store failed, never settles if refused. */
  write(frames: readonly FrameToAppend[], entry?: StepRecord): Promise<void>;
  /** Waits until `wakeAt`, inline or by suspending the run. */
  wait(hashedStepId: string, wakeAt: number, reason: RedirectReason): Promise<void>;
}
