import { encodeFramePayload, snapshotResponse, type ResponseSnapshot } from "@durastream/protocol";
import { createDataPayloadEncoder } from "@durastream/protocol/internal";
import type { StepScope } from "./context.js";
import { DurableError } from "./errors.js";
import { OutsideStepCommits } from "./outside-step-commits.js";
import { DEFAULT_MAX_BUFFERED_BYTES, RunLogWriter } from "./run-log-writer.js";
import { failureResponse } from "./run-response.js";
import type { RunOutcome, RunSettings } from "./run-types.js";
import { storeFailure } from "./step-attempt.js";
import type { AppendEffects, FrameToAppend, RunRecord } from "./store/run-store.js";

const encodeOutsideData = createDataPayloadEncoder(null);

/**
 * `stream.push` throws `BACKPRESSURE` once the run's unstored backlog is over this many times
 * `maxBufferedBytes`: room for a burst of pushes between two `await stream.ready`, but not for a
 * loop that never waits.
 */
export const PUSH_LIMIT_FACTOR = 4;

/**
 * What one execution adds to its run's log besides the step journal: the chunks the handler
 * streams (data frames, through the batching {@link RunLogWriter}), held to the run's log limits
 * (`maxFramesPerRun`, `maxLogBytes`) and to its backlog bound (`BACKPRESSURE`), the commits of
 * chunks pushed outside steps ({@link OutsideStepCommits}), and the result frame.
 *
 * `emit` is the per-chunk path: no allocation beyond the frame itself.
 */
export class RunOutput {
  readonly writer: RunLogWriter;
  readonly #outside: OutsideStepCommits;
  readonly #runId: string;
  readonly #maxFramesPerRun: number;
  readonly #maxLogBytes: number;
  /** Frames and payload bytes in the run's log, this execution's included. */
  #frameCount: number;
  #logBytes: number;

  constructor(record: RunRecord, settings: RunSettings) {
    this.writer = new RunLogWriter(settings.store, record.runId, record.epoch, settings.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES);
    this.#outside = new OutsideStepCommits(record.outsideCommitted);
    this.#runId = record.runId;
    this.#maxFramesPerRun = settings.maxFramesPerRun;
    this.#maxLogBytes = settings.maxLogBytes;
    this.#frameCount = record.frameCount;
    this.#logBytes = record.logBytes;
  }

  /** Queues one chunk (its JSON) as a data frame of `step`, or of no step. */
  emit(step: StepScope | null, json: string): void {
    // The store lost frames of this run: a step's later chunks would follow a gap, so its attempt
    // fails (and is rolled back and retried). Outside steps, chunks are dropped until it recovers.
    if (this.writer.failure !== null) {
      if (step === null) return;
      throw storeFailure(step.stepId, this.writer.failure.error);
    }
    // Replayed outside-step chunks that the log already has committed are not sent again.
    if (step === null && !this.#outside.admit()) return;
    const payload = (step === null ? encodeOutsideData : step.encodeData)(json);
    this.#frameCount += 1;
    this.#logBytes += payload.length;
    if (this.#frameCount > this.#maxFramesPerRun || this.#logBytes > this.#maxLogBytes) {
      throw new DurableError(
        "LOG_LIMIT",
        `Run ${this.#runId} streamed more than its log may hold (${this.#maxFramesPerRun} frames / ${this.#maxLogBytes} bytes). Stream fewer, larger chunks, or raise createDurable({ limits }).`,
      );
    }
    this.writer.push({ type: "data", payload });
  }

  /** The error of a push made while the run's backlog is far past its bound (see {@link PUSH_LIMIT_FACTOR}). */
  backpressure(step: StepScope | null): DurableError {
    const writer = this.writer;
    const where = step === null ? "outside steps" : `in step ${JSON.stringify(step.stepId)}`;
    return new DurableError(
      "BACKPRESSURE",
      `stream.push ${where}: run ${this.#runId} has ${writer.bufferedBytes} bytes of chunks not yet stored, more than ${PUSH_LIMIT_FACTOR} × limits.maxBufferedBytes (${writer.maxBufferedBytes}); the store cannot keep up with this loop. In a loop that pushes, await stream.ready after each push (it waits while the store catches up), or stream the source with stream.pipe(source), which waits by itself.`,
    );
  }

  /** Queues a commit of the outside-step chunks pushed since the last one (at a step boundary). */
  commitOutside(): void {
    const frames: FrameToAppend[] = [];
    const outsideCommitted = this.#outside.take(frames);
    if (outsideCommitted !== undefined) void this.writer.write(frames, { outsideCommitted }).catch(() => {});
  }

  /**
   * Stores the suspension of the run until `wakeAt`, with a commit of pending outside-step chunks.
   * Rejects as the write does; the outside-step commit is then still pending.
   */
  async writeSuspension(wakeAt: number): Promise<void> {
    const frames: FrameToAppend[] = [];
    const before = this.#outside.mark();
    const outsideCommitted = this.#outside.take(frames);
    try {
      await this.writer.write(frames, { suspend: { wakeAt }, ...(outsideCommitted === undefined ? {} : { outsideCommitted }) });
    } catch (error) {
      this.#outside.restore(before);
      throw error;
    }
  }

  /**
   * The frames and effects that finish the run with `status` and `snapshot`: a pending
   * outside-step commit and the result frame. The result counts toward maxLogBytes too. One past
   * it still ends the run: with a small failed result that says why, in place of the response.
   */
  async result(status: RunOutcome["status"], snapshot: ResponseSnapshot): Promise<{ frames: FrameToAppend[]; effects: AppendEffects }> {
    const frames: FrameToAppend[] = [];
    const outsideCommitted = this.#outside.take(frames);
    let payload = encodeFramePayload({ type: "result", status, response: snapshot });
    const maxLogBytes = this.#maxLogBytes;
    if (this.#logBytes + payload.length > maxLogBytes) {
      const error = new DurableError(
        "LOG_LIMIT",
        `Run ${this.#runId}: its result (a ${payload.length}-byte frame) would take its log past limits.maxLogBytes (${maxLogBytes} bytes, ${this.#logBytes} used by its other frames), so the run failed instead of storing it. Return a smaller response (stream large content to the client with stream.pipe inside a step), or raise createDurable({ limits: { maxLogBytes } }).`,
      );
      status = "failed";
      snapshot = await snapshotResponse(failureResponse(error));
      payload = encodeFramePayload({ type: "result", status, response: snapshot });
    }
    this.#logBytes += payload.length;
    frames.push({ type: "result", payload });
    return { frames, effects: { finish: { status, response: snapshot }, ...(outsideCommitted === undefined ? {} : { outsideCommitted }) } };
  }
}
