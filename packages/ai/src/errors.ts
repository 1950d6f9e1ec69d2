import { DurastreamError } from "@durastream/server";

const marker = "durastream.error.DurableAiError";

/**
 * What went wrong, for {@link DurableAiError}.
 *
 * @example
 * ```ts
 * const code: DurableAiErrorCode = error.code; // "MODEL_STREAM_ERROR" | "MOCK_FAILURE"
 * ```
 */
export type DurableAiErrorCode =
  /** The model's stream sent an `error` part whose error is not an `Error` object. */
  | "MODEL_STREAM_ERROR"
  /** A failure injected with the mock model's `failures` option. */
  | "MOCK_FAILURE";

/**
 * The error of `@durastream/ai` (a `DurastreamError`). Errors thrown by a model itself (a provider's
 * `APICallError`, an `AbortError`, …) are passed through untouched; this class is used for `error`
 * stream parts that carry no `Error` and for the mock's injected failures. Bad options passed to
 * `createMockModel` or `pipeModel` throw an `InvalidOptionsError` (code `INVALID_OPTIONS`), as in
 * every Durastream package.
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
export class DurableAiError extends DurastreamError<DurableAiErrorCode> {
  /**
   * @example
   * ```ts
   * throw new DurableAiError("MOCK_FAILURE", "Upstream reset");
   * ```
   */
  constructor(code: DurableAiErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "DurableAiError";
    DurastreamError.mark(this, marker);
  }

  /**
   * True for any `DurableAiError`, even one from another copy of this package.
   *
   * @example
   * ```ts
   * if (DurableAiError.isInstance(error)) console.log(error.code);
   * ```
   */
  static override isInstance(value: unknown): value is DurableAiError {
    return DurastreamError.hasMarker(value, marker);
  }
}
