/**
 * True when `signal` exists and has been aborted. A function rather than an inline
 * `signal?.aborted` check, because a signal can be aborted by a callback between two checks, which
 * inline checks would let the type checker consider impossible.
 *
 * @example
 * ```ts
 * if (isAborted(signal)) throw signal?.reason;
 * ```
 */
export function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}
