// The takeover scan: what a new executor of a run does before it runs the handler again, when the
// previous execution may have stopped mid-step (see ARCHITECTURE.md, "Taken over").
import { ProtocolError, encodeFramePayload } from "@durastream/protocol";
import { stepOfPayload as stepOfLogPayload } from "@durastream/protocol/internal";
import { resolveRetryPolicy, type RetryPolicy } from "./retry-policy.js";
import type { FrameToAppend, RollbackMark, RunRecord, RunStore, StepRecord } from "./store/run-store.js";

/** Frames read per page when scanning a log for interrupted steps. */
const SCAN_PAGE = 1000;
/** Payload (UTF-16 code units) a takeover's scan reads at most per page: large frames make short pages. */
const SCAN_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Rolls back, in the new epoch, the step attempts that were interrupted (their executor stopped
 * mid-step), so clients discard their chunks: the journal's `running` entries (the attempt is
 * put on record before it runs, so this holds even when it streamed nothing), and steps whose
 * data frames are not followed by their commit or rollback in the log (chunks outside steps; logs
 * written before attempts were on record). Returns the interrupted attempt number per hashed
 * step id of the latter kind.
 *
 * Reads only the frames after the run's quiet point (`record.quiet`, see `QuietPoint`): nothing
 * was open there, and its rollback marks carry what the frames before it said of the rollbacks,
 * so the outcome is the one a scan of the whole log gives, at the cost of the frames written
 * since (by the interrupted execution; nothing when a suspended run resumes). Its rollback
 * frames record a new quiet point at the end of the log (so does an append of no frames, after a
 * long scan or when the marks changed), since nothing is open once they are written.
 */
export async function rollBackInterrupted(
  store: RunStore,
  record: RunRecord,
  journal: readonly StepRecord[],
  /** The endpoint's retry policy layers (for `running` entries written before they recorded their retries). */
  retryPolicy: readonly (RetryPolicy | undefined)[],
  /** The run is being ended (an orphan): nothing runs again, whatever the retries left. */
  ending = false,
): Promise<Map<string, number>> {
  const quiet = record.quiet;
  const { attempts, lastAttempt, scanned } = await scanOpenAttempts(store, record, journal);
  const byStep = new Map(journal.map((entry) => [entry.hashedStepId, entry]));
  const interrupted = new Map<string, number>();
  const frames: FrameToAppend[] = [];
  // A `running` entry records its step's retries; the endpoint's apply to entries written before.
  const { retries } = resolveRetryPolicy("durable.endpoint", ...retryPolicy);
  for (const { hashedStepId: step, attempt, running } of attempts) {
    const willRetry = (running === undefined || attempt <= (running.retries ?? retries)) && !ending;
    if (running === undefined && step !== null) interrupted.set(step, attempt);
    lastAttempt.set(step, attempt);
    frames.push({
      type: "rollback",
      payload: encodeFramePayload({
        type: "rollback",
        hashedStepId: step,
        attempt,
        willRetry,
        error: {
          name: "InterruptedError",
          message: `The execution running this step stopped before the step finished (attempt ${attempt}): its process stopped, or lost the run's lease.${willRetry ? " It runs again." : ""}`,
        },
      }),
    });
  }
  const rollbacks = rollbackMarks(lastAttempt, byStep);
  if (frames.length > 0) {
    await store.appendFrames(record.runId, record.epoch, frames, { quiet: { rollbacks } });
  } else if (scanned >= SCAN_PAGE || !sameMarks(rollbacks, quiet?.rollbacks ?? [])) {
    // Nothing was open: record that, so the next takeover does not read these frames again.
    // Only a saving: a failure leaves the quiet point where it was (the execution's own writes
    // find out whether the run is still this executor's).
    await store.appendFrames(record.runId, record.epoch, [], { quiet: { rollbacks } }).catch(() => {});
  }
  return interrupted;
}

/** A step attempt the log leaves open: chunks without a commit or rollback, or a `running` journal entry. */
export interface OpenAttempt {
  readonly hashedStepId: string | null;
  readonly attempt: number;
  /** The journal's `running` entry, when the attempt is on record as started. */
  readonly running?: StepRecord;
}

/**
 * Reads the log after the run's quiet point (pages bounded by frames and bytes) and the journal
 * for the step attempts left open: each `running` entry not rolled back at its attempt (first),
 * then each step (or outside-step chunks, `null`) with data frames but no commit or rollback,
 * at the attempt after the last one known. Also returns each step's last rolled-back attempt
 * (the quiet point's marks, then the log's) and how many frames were read. Used by takeovers and
 * by `durable.cancel`.
 */
export async function scanOpenAttempts(
  store: RunStore,
  record: RunRecord,
  journal: readonly StepRecord[],
): Promise<{ attempts: OpenAttempt[]; lastAttempt: Map<string | null, number>; scanned: number }> {
  const open = new Set<string | null>();
  // The attempt of each step's last rollback frame in the log, so far.
  const lastAttempt = new Map<string | null, number>();
  for (const { hashedStepId, attempt } of record.quiet?.rollbacks ?? []) lastAttempt.set(hashedStepId, attempt);
  let after = record.quiet?.offset;
  let scanned = 0;
  for (;;) {
    const page = await store.readFrames(record.runId, after, SCAN_PAGE, SCAN_MAX_BYTES);
    scanned += page.length;
    let pageBytes = 0;
    for (const entry of page) {
      pageBytes += entry.payload.length;
      const step = stepOfPayload(entry.payload);
      if (entry.type === "data") open.add(step);
      else if (entry.type === "commit") open.delete(step);
      else if (entry.type === "rollback") {
        open.delete(step);
        lastAttempt.set(step, (JSON.parse(entry.payload) as { attempt: number }).attempt);
      }
    }
    // A page short of both bounds is the end of the log.
    if (page.length === 0 || (page.length < SCAN_PAGE && pageBytes < SCAN_MAX_BYTES)) break;
    after = page[page.length - 1]!.offset;
  }
  const attempts: OpenAttempt[] = [];
  const byStep = new Map(journal.map((entry) => [entry.hashedStepId, entry]));
  for (const entry of journal) {
    if (entry.kind !== "run" || entry.status !== "running") continue;
    // Rolled back already (by an earlier takeover that stopped in turn) when the log says so.
    if (!open.has(entry.hashedStepId) && lastAttempt.get(entry.hashedStepId) === entry.attempts) continue;
    open.delete(entry.hashedStepId);
    attempts.push({ hashedStepId: entry.hashedStepId, attempt: entry.attempts, running: entry });
  }
  for (const step of open) {
    // The journal has the attempts of the engine's own rollbacks, which the marks leave out (only
    // logs written before attempts were on record, by an older version, get here with one).
    const known = step === null ? 0 : (byStep.get(step)?.attempts ?? 0);
    attempts.push({ hashedStepId: step, attempt: Math.max(lastAttempt.get(step) ?? 0, known) + 1 });
  }
  return { attempts, lastAttempt, scanned };
}

/**
 * The rollback marks a quiet point keeps: each step's last rolled-back attempt, where a later
 * takeover may need it and the journal does not tell it: for outside-step chunks; for a `running`
 * entry whose attempt was rolled back already (by a takeover); for a step the journal has not, or
 * not as far. (A finished step never streams again; a `retrying` or `failed` entry has the
 * attempt of the engine's own rollback.)
 */
function rollbackMarks(lastAttempt: ReadonlyMap<string | null, number>, journal: ReadonlyMap<string, StepRecord>): RollbackMark[] {
  const marks: RollbackMark[] = [];
  for (const [hashedStepId, attempt] of lastAttempt) {
    const entry = hashedStepId === null ? undefined : journal.get(hashedStepId);
    const needed =
      entry === undefined ||
      (entry.status === "running" ? attempt === entry.attempts : entry.status !== "succeeded" && entry.status !== "failed" && attempt > entry.attempts);
    if (needed) marks.push({ hashedStepId, attempt });
  }
  return marks;
}

function sameMarks(a: readonly RollbackMark[], b: readonly RollbackMark[]): boolean {
  if (a.length !== b.length) return false;
  const attempts = new Map(b.map(({ hashedStepId, attempt }) => [hashedStepId, attempt]));
  return a.every(({ hashedStepId, attempt }) => attempts.get(hashedStepId) === attempt);
}

/** The hashed step id of a data, commit or rollback payload (they all start with `{"step":`). */
function stepOfPayload(payload: string): string | null {
  const step = stepOfLogPayload(payload);
  if (step !== undefined) return step;
  throw new ProtocolError("INVALID_FRAME", `A log frame read from the store has no step: ${payload.slice(0, 80)}`, { raw: payload });
}
