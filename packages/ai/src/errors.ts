const marker = Symbol.for("@durastream/ai/error");

/**
 * What went wrong, for {@link DurableAiError}.
 *
 * @example
 * ```ts
 * const code: DurableAiErrorCode = error.code; // "INVALID_OPTIONS" | "MODEL_STREAM_ERROR" | "MOCK_FAILURE"
 * ```
 */
export type DurableAiErrorCode =
  /** An option passed to `createMockModel` or `pipeModel` is invalid. */
  | "INVALID_OPTIONS"
  /** The model's stream sent an `error` part whose error is not an `Error` object. */
  | "MODEL_STREAM_ERROR"
  /** A failure injected with the mock model's `failures` option. */
  | "MOCK_FAILURE";

/**
 * The one error class of `@durastream/ai`. Errors thrown by a model itself (a provider's
 * `APICallError`, an `AbortError`, …) are passed through untouched; this class is used for bad
 * options, for `error` stream parts that carry no `Error`, and for the mock's injected failures.
 *
 * @example
 * ```ts
 * import { DurableAiError } from "@durastream/ai";
 *
 * try {
 *   await pipeModel(model, { call });
 * } catch (error) {
 *   if (DurableAiError.isInstance(error) && error.code === "MOCK_FAILURE") console.log("injected");
 * }
 * ```
 */
export class DurableAiError extends Error {
  /** Discriminates the kind of failure. */
  readonly code: DurableAiErrorCode;
  private readonly [marker] = true;

  /**
   * @example
   * ```ts
   * throw new DurableAiError("INVALID_OPTIONS", "chunking must be a positive integer.");
   * ```
   */
  constructor(code: DurableAiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DurableAiError";
    this.code = code;
  }

  /**
   * True for any `DurableAiError`, even one from another copy of this package.
   *
   * @example
   * ```ts
   * if (DurableAiError.isInstance(error)) console.log(error.code);
   * ```
   */
  static isInstance(value: unknown): value is DurableAiError {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[marker] === true;
  }
}
