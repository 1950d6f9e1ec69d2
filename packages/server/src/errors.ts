import type { StoreErrorReason } from "./store/run-store.js";

const brand = Symbol.for("durastream.server.error");

/**
 * Discriminates the kinds of `DurableError`. `NESTED_STEP`: a step tool was called inside another
 * step's function (refused at once, never retried). `BACKPRESSURE`: `stream.push` was called while
 * the run's chunks not yet stored were far past `limits.maxBufferedBytes` (a loop that pushes
 * without `await stream.ready`; never retried). `RESPONSE_TOO_LARGE`: the handler's response body
 * went past `limits.maxResponseBytes` (the run fails; the body was not read further).
 * `UNKNOWN_ENDPOINT`: no endpoint with the run's endpoint id was registered on any instance that
 * polled for due runs, for longer than `orphanGrace`; the run was ended as failed with it.
 */
export type DurableErrorCode =
  | "INVALID_OPTIONS"
  | "NON_RETRIABLE"
  | "STEP_FAILED"
  | "INVALID_STREAM_DATA"
  | "INVALID_STEP_OUTPUT"
  | "RUN_NOT_FOUND"
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
  | "RESPONSE_TOO_LARGE";

/**
 * The one error base class of `@durastream/server`; `code` tells the kinds apart.
 *
 * @example
 * ```ts
 * try {
 *   await step.run("charge", charge);
 * } catch (error) {
 *   if (DurableError.isInstance(error) && error.code === "STEP_FAILED") {
 *     return new Response("Payment failed, try again later", { status: 502 });
 *   }
 *   throw error;
 * }
 * ```
 */
export class DurableError extends Error {
  /** Discriminates the kinds of error. */
  readonly code: DurableErrorCode;

  constructor(code: DurableErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DurableError";
    this.code = code;
    Object.defineProperty(this, brand, { value: true });
  }

  /**
   * True for a `DurableError` (or subclass) from any copy of this package, across bundles and realms.
   *
   * @example
   * ```ts
   * if (DurableError.isInstance(error)) console.warn(error.code);
   * ```
   */
  static isInstance(value: unknown): value is DurableError {
    if (typeof value !== "object" || value === null) return false;
    try {
      return (value as Record<symbol, unknown>)[brand] === true;
    } catch {
      return false; // a revoked Proxy, or a Proxy whose get trap throws
    }
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
    return DurableError.isInstance(value) && value.code === "NON_RETRIABLE";
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
    super(
      "STEP_FAILED",
      `Step "${stepId}" failed after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${describeError(cause).message}`,
      { cause },
    );
    this.name = "StepFailedError";
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
    return DurableError.isInstance(value) && value.code === "STEP_FAILED";
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
  readonly reason: StoreErrorReason;

  constructor(reason: StoreErrorReason, runId: string) {
    super(
      "STORE_REFUSED",
      reason === "fenced"
        ? `Run ${runId} was taken over by another executor; this one's writes are refused.`
        : reason === "over"
          ? `Run ${runId} is over; its log takes no more frames.`
          : `Run ${runId} is unknown to this store (or has expired).`,
    );
    this.name = "StoreRefusedError";
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
    return DurableError.isInstance(value) && value.code === "STORE_REFUSED";
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
  return { name: "Error", message: describeValue(error) };
}

/** `String(value)` where it works; otherwise a description that never throws. */
function describeValue(value: unknown): string {
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
