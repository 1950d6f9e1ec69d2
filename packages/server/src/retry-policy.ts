import { InvalidOptionsError } from "@durastream/protocol";

/** Exponential backoff between step attempts. */
export interface BackoffOptions {
  /** Delay after the first failed attempt, in milliseconds. Default 1000. */
  initialDelay?: number;
  /** Each further failure multiplies the delay by this. Default 2. */
  factor?: number;
  /** Upper bound of the delay, in milliseconds. Default 30000. */
  maxDelay?: number;
  /** Random spread, a fraction of the delay added or removed (0 to 1). Default 0.2. */
  jitter?: number;
}

/** Backoff as options, or as a function from the failed attempt (from 1) to a delay in ms. */
export type Backoff = BackoffOptions | ((failedAttempt: number) => number);

/** How a step is retried. */
export interface RetryPolicy {
  /** Retries after the first attempt, 0 to 20. Default 3 (so at most 4 attempts). */
  retries?: number;
  /** Delay between attempts. */
  backoff?: Backoff;
}

/** A validated retry policy. */
export interface ResolvedRetryPolicy {
  readonly retries: number;
  readonly delayFor: (failedAttempt: number) => number;
}

/** Default retries per step, as in Inngest. */
export const DEFAULT_RETRIES = 3;
/** Most retries a step may ask for. */
export const MAX_RETRIES = 20;

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
  if (typeof backoff === "function") {
    const custom = backoff;
    return {
      retries,
      delayFor(failedAttempt) {
        const milliseconds = custom(failedAttempt);
        if (!Number.isFinite(milliseconds) || milliseconds < 0) {
          throw new InvalidOptionsError(`${where}: the backoff function returned ${String(milliseconds)} for attempt ${failedAttempt}; return a delay in milliseconds >= 0.`);
        }
        return milliseconds;
      },
    };
  }
  const { initialDelay = 1000, factor = 2, maxDelay = 30_000, jitter = 0.2 } = backoff;
  for (const [name, value, min, max] of [
    ["initialDelay", initialDelay, 0, Number.MAX_SAFE_INTEGER],
    ["factor", factor, 1, 100],
    ["maxDelay", maxDelay, 0, Number.MAX_SAFE_INTEGER],
    ["jitter", jitter, 0, 1],
  ] as const) {
    if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
      throw new InvalidOptionsError(`${where}: "backoff.${name}" must be a number from ${min} to ${max}, got ${String(value)}.`);
    }
  }
  return {
    retries,
    delayFor(failedAttempt) {
      const base = Math.min(maxDelay, initialDelay * factor ** (failedAttempt - 1));
      return Math.max(0, Math.round(base * (1 + jitter * (Math.random() * 2 - 1))));
    },
  };
}
