import { DurastreamError } from "@durastream/protocol";
import type { StoreErrorReason } from "./store/run-store.js";

const marker = "durastream.error.DurableError";
const nonRetriableMarker = "durastream.error.NonRetriableError";
const stepFailedMarker = "durastream.error.StepFailedError";
const storeRefusedMarker = "durastream.error.StoreRefusedError";

/**
 * Discriminates the kinds of `DurableError`. `NESTED_STEP`: a step tool was called inside another
 * step's function (refused at once, never retried). `BACKPRESSURE`: `stream.push` was called while
 * the run's chunks not yet stored were far past `limits.maxBufferedBytes` (a loop that pushes
 * without `await stream.ready`; never retried). `RESPONSE_TOO_LARGE`: the handler's response body
 * went past `limits.maxResponseBytes` (the run fails; the body was not read further).
 * `UNKNOWN_ENDPOINT`: no endpoint with the run's endpoint id was registered on any instance that
 * polled for due runs, for longer than `orphanGrace`; the run was ended as failed with it.
 * `RUN_EXISTS`: a store's `createRun` was given a run id it already holds, or a run key that an
 *   active run of the endpoint holds (`RunKeyTakenError`, which names that run); nothing was changed.
 * `NON_RETRIABLE`, `STEP_FAILED` and `STORE_REFUSED` are the codes of `NonRetriableError`,
 * `StepFailedError` and `StoreRefusedError`; only those classes carry them.
 *
 * Bad options are no `DurableError`: every package throws an `InvalidOptionsError` (code
 * `INVALID_OPTIONS`) for them.
 */
export type DurableErrorCode =
  | "NON_RETRIABLE"
  | "STEP_FAILED"
  | "INVALID_STREAM_DATA"
  | "INVALID_STEP_OUTPUT"
  | "RUN_CANCELLED"
  | "STORE_REFUSED"
  | "LOG_LIMIT"
  | "NON_DETERMINISTIC"
  | "BODY_TOO_LARGE"
  | "NO_SECRET"
  | "NOT_IN_ENDPOINT"
  | "STORE_UNAVAILABLE"
  | "TIMEOUT"
  | "STEP_CRASHED"
  | "SHUTTING_DOWN"
  | "UNKNOWN_ENDPOINT"
  | "NESTED_STEP"
  | "BACKPRESSURE"
  | "RESPONSE_TOO_LARGE"
  | "RUN_EXISTS";

/**
 * The error of `@durastream/server` and of its stores (a `DurastreamError`); `code` tells the kinds
 * apart. `isInstance` is true for it and its subclasses (`NonRetriableError`, `StepFailedError`,
 * `StoreRefusedError`) from any copy of the package; each subclass's own `isInstance` is exact.
 *
 * @example
 * ```ts
 * try {
 *   await step.run("charge", charge);
 * } catch (error) {
 *   if (StepFailedError.isInstance(error)) {
 *     return new Response("Payment failed, try again later", { status: 502 });
 *   }
 *   if (DurableError.isInstance(error)) console.warn(error.code); // TIMEOUT, RUN_CANCELLED, …
 *   throw error;
 * }
 * ```
 */
export class DurableError extends DurastreamError<DurableErrorCode> {
  constructor(code: DurableErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "DurableError";
    DurastreamError.mark(this, marker);
  }

  /**
   * True for a `DurableError` (or subclass) from any copy of this package, across bundles and realms.
   *
   * @example
   * ```ts
   * if (DurableError.isInstance(error)) console.warn(error.code);
   * ```
   */
  static override isInstance(value: unknown): value is DurableError {
    return DurastreamError.hasMarker(value, marker);
  }
}

/**
 * Throw it from a step to fail the step at once, without retries: a rollback frame is sent and
 * `step.run` rejects with a `StepFailedError` whose `cause` is this error.
 *
 * @example
 * ```ts
 * await step.run("validate", () => {
 *   if (!input.prompt) throw new NonRetriableError("A prompt is required.");
 * });
 * ```
 */
export class NonRetriableError extends DurableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("NON_RETRIABLE", message, options);
    this.name = "NonRetriableError";
    DurastreamError.mark(this, nonRetriableMarker);
  }

  /**
   * True for a `NonRetriableError` from any copy of this package.
   *
   * @example
   * ```ts
   * NonRetriableError.isInstance(new NonRetriableError("no")); // true
   * ```
   */
  static override isInstance(value: unknown): value is NonRetriableError {
    return DurastreamError.hasMarker(value, nonRetriableMarker);
  }
}

/**
 * What `step.run` throws into the handler when a step has failed for good: its retries are used up,
 * or it threw a `NonRetriableError`. `cause` is the step's last error.
 *
 * @example
 * ```ts
 * try {
 *   await step.run("summarize", summarize);
 * } catch (error) {
 *   if (StepFailedError.isInstance(error)) console.error(error.stepId, error.attempts, error.cause);
 * }
 * ```
 */
export class StepFailedError extends DurableError {
  /** The id given to `step.run`. */
  readonly stepId: string;
  /** How many attempts were made. */
  readonly attempts: number;

  constructor(stepId: string, attempts: number, cause: unknown) {
    super("STEP_FAILED", `Step "${stepId}" failed after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${describeError(cause).message}`, { cause });
    this.name = "StepFailedError";
    DurastreamError.mark(this, stepFailedMarker);
    this.stepId = stepId;
    this.attempts = attempts;
  }

  /**
   * True for a `StepFailedError` from any copy of this package.
   *
   * @example
   * ```ts
   * if (StepFailedError.isInstance(error)) console.log(error.attempts);
   * ```
   */
  static override isInstance(value: unknown): value is StepFailedError {
    return DurastreamError.hasMarker(value, stepFailedMarker);
  }
}

/**
 * A store refused a write: the writer lost the run to another executor (`fenced`), the run is over
 * (`over`), or the store does not know it (`unknown-run`). Nothing was written.
 *
 * @example
 * ```ts
 * if (StoreRefusedError.isInstance(error) && error.reason === "fenced") {
 *   // another process took this run over; stop executing it
 * }
 * ```
 */
export class StoreRefusedError extends DurableError {
  /** Why the store refused: `fenced`, `over` or `unknown-run`. Always set. */
  readonly reason: StoreErrorReason;

  /**
   * @param runId - the refused run, for the default message.
   * @param options - `message` replaces the default message (for a refusal that knows more, or no run id).
   * @example
   * ```ts
   * throw new StoreRefusedError("fenced", runId);
   * ```
   */
  constructor(reason: StoreErrorReason, runId: string | undefined, options: { message?: string; cause?: unknown } = {}) {
    super(
      "STORE_REFUSED",
      options.message ??
        (reason === "fenced"
          ? `Run ${runId} was taken over by another executor; this one's writes are refused.`
          : reason === "over"
            ? `Run ${runId} is over; its log takes no more frames.`
            : `Run ${runId} is unknown to this store (or has expired).`),
      options,
    );
    this.name = "StoreRefusedError";
    DurastreamError.mark(this, storeRefusedMarker);
    this.reason = reason;
  }

  /**
   * True for a `StoreRefusedError` from any copy of this package.
   *
   * @example
   * ```ts
   * StoreRefusedError.isInstance(new StoreRefusedError("over", "r1")); // true
   * ```
   */
  static override isInstance(value: unknown): value is StoreRefusedError {
    return DurastreamError.hasMarker(value, storeRefusedMarker);
  }
}

/**
 * Name and message of any thrown value, as they travel in rollback frames. Never throws: values
 * that `String()` cannot convert (`Object.create(null)`, a throwing `toString`, a Symbol, a
 * revoked Proxy) and errors whose `name` or `message` getters throw get a description too.
 */
export function describeError(error: unknown): { name: string; message: string } {
  try {
    if (typeof error === "object" && error !== null) {
      const { name, message } = error as { name?: unknown; message?: unknown };
      if (typeof message === "string") {
        return { name: typeof name === "string" ? name : "Error", message };
      }
      if (error instanceof Error) return { name: typeof name === "string" ? name : "Error", message: "" };
    }
  } catch {
    // A getter threw, or a revoked Proxy: fall through to the plain description.
  }
  return { name: "Error", message: thrownValueText(error) };
}

/**
 * `String(value)` where it works; otherwise a description that never throws. Not protocol's
 * `describeValue` (which quotes strings and names objects, for option errors): a thrown value's
 * own text goes into rollback frames as it is (`throw "quota"` reads `quota`).
 */
function thrownValueText(value: unknown): string {
  try {
    if (typeof value === "symbol") return value.toString();
    return String(value);
  } catch {
    try {
      if (typeof value === "object" && value !== null) {
        const tag = Object.prototype.toString.call(value);
        const keys = Object.keys(value).slice(0, 5);
        return `${tag} that cannot be converted to a string${keys.length === 0 ? "" : ` (keys: ${keys.join(", ")})`}`;
      }
    } catch {
      // A revoked Proxy refuses even this.
    }
    return `a thrown ${typeof value} that cannot be converted to a string`;
  }
}

/** Whether an error must not be retried: a `NonRetriableError` or a deterministic programming error. */
export function isNonRetriable(error: unknown): boolean {
  return (
    DurableError.isInstance(error) &&
    (error.code === "NON_RETRIABLE" ||
      error.code === "INVALID_STREAM_DATA" ||
      error.code === "INVALID_STEP_OUTPUT" ||
      error.code === "LOG_LIMIT" ||
      error.code === "NON_DETERMINISTIC" ||
      error.code === "NESTED_STEP" ||
      error.code === "BACKPRESSURE" ||
      error.code === "RUN_CANCELLED")
  );
}
