/**
 * Carries an error thrown by one of the caller's callbacks through the stream machinery, so it is
 * told apart from stream errors and rejected with unchanged (never wrapped, never passed to
 * `onStreamError`). Internal.
 *
 * @example
 * ```ts
 * try {
 *   invokeCallback(options.onData, chunk);
 * } catch (error) {
 *   if (error instanceof CallbackFailure) throw error.error; // the caller's own error
 * }
 * ```
 */
export class CallbackFailure {
  /** What the callback threw. */
  readonly error: unknown;

  constructor(error: unknown) {
    this.error = error;
  }
}

/**
 * Calls an optional callback; if it throws, throws a `CallbackFailure` holding the thrown value.
 *
 * @example
 * ```ts
 * invokeCallback(options.onCommit, { hashedStepId: null, offset: "1-4" });
 * ```
 */
export function invokeCallback<Argument>(callback: ((argument: Argument) => void) | undefined, argument: Argument): void {
  if (callback === undefined) return;
  try {
    callback(argument);
  } catch (error) {
    throw new CallbackFailure(error);
  }
}
