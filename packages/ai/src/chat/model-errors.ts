import { DurastreamError, NonRetriableError } from "@durastream/server";
import {
  APICallError,
  InvalidArgumentError,
  InvalidPromptError,
  LoadAPIKeyError,
  LoadSettingError,
  NoSuchModelError,
  NoSuchProviderReferenceError,
  RetryError,
  StreamProviderError,
  ToolChoiceViolationError,
  TypeValidationError,
  UnsupportedFunctionalityError,
  UnsupportedModelVersionError,
} from "ai";

/** Errors a retry of the same request cannot fix: bad prompts, unknown models, missing keys, … */
const permanentErrors: ReadonlyArray<{ isInstance(error: unknown): boolean }> = [
  InvalidPromptError,
  InvalidArgumentError,
  LoadAPIKeyError,
  LoadSettingError,
  NoSuchModelError,
  NoSuchProviderReferenceError,
  ToolChoiceViolationError,
  TypeValidationError,
  UnsupportedFunctionalityError,
  UnsupportedModelVersionError,
];

/**
 * Whether a failed model call may succeed when it is made again, from the AI SDK's error types:
 * `APICallError` and `StreamProviderError` carry `isRetryable` (408, 409, 429 and 5xx are; a
 * stream error part without a status code is retried);
 * a `RetryError` is retryable unless its reason is `errorNotRetryable` and its last error is;
 * gateway errors and other errors with a boolean `isRetryable` field follow it; prompt, model,
 * key and schema errors are not. Anything else (a network `TypeError`, a dropped connection, an
 * error part the provider sent without a status) is retryable. Internal (not exported by the
 * package).
 */
export function isRetryableModelError(error: unknown): boolean {
  if (APICallError.isInstance(error)) return error.isRetryable;
  // The AI SDK derives a stream error's isRetryable from its status code, so an error part without
  // one (a dropped upstream, a provider's "server_error") would never be retried: retry those.
  if (StreamProviderError.isInstance(error)) return error.statusCode === undefined || error.isRetryable;
  if (RetryError.isInstance(error)) {
    if (error.reason === "errorNotRetryable") return false;
    return error.lastError === undefined ? true : isRetryableModelError(error.lastError);
  }
  if (permanentErrors.some((kind) => kind.isInstance(error))) return false;
  if (typeof error === "object" && error !== null) {
    const flag = (error as { isRetryable?: unknown }).isRetryable;
    if (typeof flag === "boolean") return flag;
  }
  return true;
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "string") return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/**
 * What a model-call step throws for `error`: Durastream's own errors (cancellation, timeouts,
 * backpressure) and retryable model errors as they are, so the engine rolls the step back and
 * retries it; a model error that cannot be retried wrapped in a `NonRetriableError` (the original
 * as `cause`), so the step fails at once. Internal (not exported by the package).
 */
export function toModelStepError(error: unknown): unknown {
  if (DurastreamError.isInstance(error)) return error;
  if (isRetryableModelError(error)) return error;
  return new NonRetriableError(`The model call failed and cannot be retried: ${messageOf(error)}`, { cause: error });
}
