// Cancelling a run for good (`durable.cancel`, `DELETE <resumeUrl>`), whichever instance executes
// it, through the store primitives a takeover uses (see ARCHITECTURE.md, "Epochs and leases").
import { encodeFramePayload, snapshotResponse } from "@durastream/protocol";
import { DurableError, StoreRefusedError, describeError } from "./errors.js";
import { failureResponse } from "./run-response.js";
import type { FrameToAppend, RunRecord, RunStore } from "./store/run-store.js";
import { scanOpenAttempts } from "./takeover-scan.js";
import { readRunSummary } from "./store/run-summary.js";
import type { Timers } from "./timers.js";

/** The reason a cancelled run's result and rollbacks give when the caller names none. */
export const DEFAULT_CANCEL_REASON = "The run was cancelled.";

/**
 * The `now` a cancel claims the run at: every running run's lease has expired by then, and every
 * suspended run is due, so `claimRun` takes any run that is not over, whoever holds it.
 */
const END_OF_TIME = Number.MAX_SAFE_INTEGER;

/** Claims tried before a cancel gives up (each one lost only to another cancel claiming meanwhile). */
const CLAIM_TRIES = 5;

/** What a cancel needs of its `createDurable`. */
interface CancelSettings {
  readonly store: RunStore;
  readonly timers: Timers;
  /** This process's identity as a run owner (the executor's). */
  readonly owner: string;
  readonly leaseDuration: number;
}

/**
 * Ends a run that is not over yet as cancelled, and resolves with `true` once that is stored;
 * `false` when the run is unknown (or expired) or over already (a cancel of a cancelled run too).
 *
 * 1. Claims the run as of the end of time, so `claimRun` takes it whether it is running (on this
 *    instance or another) or suspended: its epoch grows, so the store refuses every later write of
 *    the execution that held it (fencing). That execution's next write or lease renewal fails, and
 *    it stops (`DurableRun.lose`: its signal aborts, pipes cancel their sources) without writing
 *    anything more. `beforeClaim` runs right before the claim is sent (the executor aborts a
 *    local execution's signal there, with a `RUN_CANCELLED` error, so a model stream stops at once).
 * 2. Reads the log after the run's quiet point and the step journal, as a takeover does, for step
 *    attempts left open (chunks without a commit or rollback, `running` entries).
 * 3. Appends, as the new epoch and in one write, a rollback frame (`willRetry: false`, the
 *    `RUN_CANCELLED` error) per open attempt and the result frame, and finishes the run: `failed`,
 *    `500` with the reason as its plain-text body, the result `cancelOnDisconnect` gives.
 *
 * A crash between the claim and the write leaves the run claimed: once the lease expires it is
 * taken over and executed again, not cancelled (the promise has rejected or never settled; cancel
 * again).
 */
export async function cancelRun(settings: CancelSettings, runId: string, reason: string, beforeClaim: () => void): Promise<boolean> {
  const { store, timers, owner, leaseDuration } = settings;
  for (let tries = 1; ; tries += 1) {
    const summary = await readRunSummary(store, runId);
    if (summary === undefined || isOver(summary.status)) return false;
    beforeClaim();
    // Sent at once after `beforeClaim` (no await between): fenced before that execution reacts.
    const claimed = await store.claimRun(runId, owner, timers.now() + leaseDuration, END_OF_TIME);
    if (claimed !== undefined) {
      try {
        await finishCancelled(store, claimed, reason);
        return true;
      } catch (error) {
        // Another cancel claimed the run meanwhile (fenced), or finished it (over): look again.
        if (!StoreRefusedError.isInstance(error)) throw error;
      }
    }
    if (tries >= CLAIM_TRIES) {
      throw new DurableError(
        "STORE_UNAVAILABLE",
        `durable.cancel(${JSON.stringify(runId)}): the run could not be claimed to cancel it (${CLAIM_TRIES} tries); it is neither over nor claimable in the store. Try again.`,
      );
    }
  }
}

function isOver(status: RunRecord["status"]): boolean {
  return status === "succeeded" || status === "failed";
}

/** Rolls back what is open in the claimed run's log and stores its cancelled result, in one append. */
async function finishCancelled(store: RunStore, record: RunRecord, reason: string): Promise<void> {
  const cancelled = new DurableError("RUN_CANCELLED", reason);
  const wireError = describeError(cancelled);
  const frames: FrameToAppend[] = [];
  const { attempts } = await scanOpenAttempts(store, record, await store.listSteps(record.runId));
  for (const { hashedStepId, attempt } of attempts) {
    frames.push({ type: "rollback", payload: encodeFramePayload({ type: "rollback", hashedStepId, attempt, willRetry: false, error: wireError }) });
  }
  const response = await snapshotResponse(failureResponse(cancelled));
  frames.push({ type: "result", payload: encodeFramePayload({ type: "result", status: "failed", response }) });
  await store.appendFrames(record.runId, record.epoch, frames, { finish: { status: "failed", response } });
}
