import { StoreRefusedError } from "./errors.js";
import { SkippedWriteError, type RunLogWriter } from "./run-log-writer.js";
import type { RunSettings } from "./run-types.js";
import type { AppendEffects, FrameToAppend } from "./store/run-store.js";
import { delay } from "./timers.js";

/** How a {@link writeRetrying} ended. */
export type RetriedWrite = "stored" | "refused" | "gave-up" | "unwanted";

/**
 * Appends through the writer, retrying with backoff while the store fails (each failure is
 * reported under `phase`), for up to `writeRetryLimit`, and while `wanted()` holds. A refused
 * write (fenced, over) is not retried.
 */
export async function writeRetrying(
  writer: RunLogWriter,
  settings: Pick<RunSettings, "timers" | "report" | "writeRetryLimit">,
  runId: string,
  frames: readonly FrameToAppend[],
  effects: AppendEffects | undefined,
  phase: "write" | "finish",
  wanted: () => boolean,
): Promise<RetriedWrite> {
  const { timers, report, writeRetryLimit } = settings;
  const started = timers.now();
  for (let pause = 50; ; pause = Math.min(pause * 2, 2_000)) {
    try {
      await writer.write(frames, effects);
      return "stored";
    } catch (error) {
      const cause = error instanceof SkippedWriteError ? error.cause : error;
      if (StoreRefusedError.isInstance(cause)) return "refused";
      // A skipped write was not tried: the failure that skipped it was reported already.
      if (!(error instanceof SkippedWriteError)) report(phase, error, runId);
      await writer.recover();
      if (!wanted()) return "unwanted";
      if (timers.now() - started >= writeRetryLimit) return "gave-up";
      await delay(timers, pause);
      if (!wanted()) return "unwanted";
    }
  }
}
