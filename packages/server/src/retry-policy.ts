import { type Backoff, InvalidOptionsError } from "@durastream/protocol";
import { backoffDelay, checkBackoff } from "@durastream/protocol/internal";

export type { Backoff, BackoffOptions } from "@durastream/protocol";

/** How a step is retried. */
export interface RetryPolicy {
  /** Retries after the first attempt, 0 to 20. Default 3 (so at most 4 attempts). */
  retries?: number;
  /** Delay between attempts: `{ initialDelay, factor, maxDelay, jitter }` (defaults 1000 ms, 2, 30 000 ms, 0.2) or a function. */
  backoff?: Backoff;
}

/** A validated retry policy. */
export interface ResolvedRetryPolicy {
  readonly retries: number;
  readonly delayFor: (failedAttempt: number) => number;
}

/** Default retries per step, as in Inngest. */
const DEFAULT_RETRIES = 3;
/** Most retries a step may ask for. */
const MAX_RETRIES = 20;

/**
 * Validates a retry policy (later layers override earlier ones: durable, endpoint, step) and returns
 * the delay function. Throws an `InvalidOptionsError` on bad input.
 */
export function resolveRetryPolicy(where: string, ...layers: ReadonlyArray<RetryPolicy | undefined>): ResolvedRetryPolicy {
  let retries = DEFAULT_RETRIES;
  let backoff: Backoff = {};
  for (const layer of layers) {
    if (layer?.retries !== undefined) retries = layer.retries;
    if (layer?.backoff !== undefined) backoff = layer.backoff;
  }
  if (!Number.isInteger(retries) || retries < 0 || retries > MAX_RETRIES) {
    throw new InvalidOptionsError(`${where}: "retries" must be a whole number from 0 to ${MAX_RETRIES}, got ${String(retries)}.`);
  }
  checkBackoff(backoff, where);
  const policy = backoff;
  return { retries, delayFor: (failedAttempt) => backoffDelay(policy, failedAttempt, Math.random(), where) };
}
