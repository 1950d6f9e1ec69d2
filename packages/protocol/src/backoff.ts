import { InvalidOptionsError } from "./errors.js";

/**
 * Exponential backoff: the wait after failure `n` (from 1) is
 * `min(maxDelay, initialDelay * factor ** (n - 1))`, spread at random by `±jitter` of itself and
 * rounded to whole milliseconds. Each package has its own defaults for the fields left out (the
 * server's step retries: `DEFAULT_BACKOFF`; the client's reconnects: `DEFAULT_RECONNECT`).
 *
 * @example
 * ```ts
 * const backoff: BackoffOptions = { initialDelay: 500, factor: 2, maxDelay: 30_000, jitter: 0.2 };
 * ```
 */
export interface BackoffOptions {
  /** The wait after the first failure, in milliseconds (0 or more). */
  initialDelay?: number;
  /** Each further failure multiplies the wait by this (1 to 100). */
  factor?: number;
  /** The longest wait before jitter, in milliseconds (0 or more). */
  maxDelay?: number;
  /** Random spread, the fraction of the wait added or taken away (0 to 1): `0.2` is ±20 %. */
  jitter?: number;
}

/**
 * How long to wait between attempts: `BackoffOptions`, or a function from the failure count (from 1)
 * to a wait in milliseconds (finite, 0 or more).
 *
 * @example
 * ```ts
 * const exponential: Backoff = { initialDelay: 1000, maxDelay: 30_000 };
 * const fixed: Backoff = () => 5000;
 * ```
 */
export type Backoff = BackoffOptions | ((attempt: number) => number);

/**
 * The server's defaults for `BackoffOptions` (step retries): from 1 s, doubling, up to 30 s, ±20 %
 * jitter. `backoffDelay` fills in these for the fields left out. Internal.
 */
export const DEFAULT_BACKOFF: Readonly<Required<BackoffOptions>> = /* @__PURE__ */ Object.freeze({
  initialDelay: 1000,
  factor: 2,
  maxDelay: 30_000,
  jitter: 0.2,
});

/** The allowed range of each `BackoffOptions` field, and its unit, for the error messages. */
const RANGES: ReadonlyArray<readonly [keyof BackoffOptions, number, number, string]> = [
  ["initialDelay", 0, Number.MAX_SAFE_INTEGER, " (milliseconds)"],
  ["factor", 1, 100, ""],
  ["maxDelay", 0, Number.MAX_SAFE_INTEGER, " (milliseconds)"],
  ["jitter", 0, 1, " (a fraction of the delay)"],
];

/**
 * Checks a `Backoff`: a function, or an object whose fields (those given) are finite numbers in
 * their ranges. Throws an `InvalidOptionsError` naming the field as `"<name>.<field>"`, prefixed
 * with `where`. Internal.
 *
 * @param where Who checks, for the message (e.g. `createDurable`).
 * @param name The option's name, for the message (e.g. `backoff`, `reconnect`).
 */
export function checkBackoff(backoff: unknown, where: string, name = "backoff"): asserts backoff is Backoff {
  if (typeof backoff === "function") return;
  if (typeof backoff !== "object" || backoff === null) {
    throw new InvalidOptionsError(
      `${where}: "${name}" must be an object { initialDelay?, factor?, maxDelay?, jitter? } or a function from the attempt to a delay in milliseconds, got ${String(backoff)}.`,
    );
  }
  checkBackoffFields(backoff, where, name);
}

/**
 * The field checks of `checkBackoff`, for a caller whose `fields` is always an object (never a
 * function): the client's reconnect options, which need neither the other message nor the
 * function case in their bundle. Internal.
 */
export function checkBackoffFields(fields: object, where: string, name: string): asserts fields is BackoffOptions {
  for (const [field, min, max, unit] of RANGES) {
    const value = (fields as Record<string, unknown>)[field];
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
      throw new InvalidOptionsError(`${where}: "${name}.${field}" must be a number from ${min} to ${max}${unit}, got ${String(value)}.`);
    }
  }
}

/**
 * The wait before retrying after failure `attempt` (from 1), in whole milliseconds:
 * `min(maxDelay, initialDelay * factor ** (attempt - 1))`, times `1 + jitter * (random * 2 - 1)`,
 * rounded, never below 0; fields left out take `DEFAULT_BACKOFF`. `random` is in `[0, 1)`
 * (`Math.random()`); `0.5` means no jitter. A function `backoff` is called with `attempt`, and what
 * it returns must be a finite number >= 0 (else an `InvalidOptionsError`, prefixed with `where`).
 * Check the options with `checkBackoff` first. Internal.
 *
 * @example
 * ```ts
 * backoffDelay({}, 3, 0.5);                        // 4000: 1000 * 2 ** 2
 * backoffDelay({ initialDelay: 250 }, 9, 0.5);     // 30000 (capped)
 * backoffDelay({ jitter: 0.5 }, 1, 0);             // 500
 * ```
 */
export function backoffDelay(backoff: Backoff, attempt: number, random: number, where = "backoff"): number {
  if (typeof backoff === "function") {
    const delay = backoff(attempt);
    if (typeof delay !== "number" || !Number.isFinite(delay) || delay < 0) {
      throw new InvalidOptionsError(`${where}: the backoff function returned ${String(delay)} for attempt ${attempt}; return a delay in milliseconds >= 0.`);
    }
    return delay;
  }
  const {
    initialDelay = DEFAULT_BACKOFF.initialDelay,
    factor = DEFAULT_BACKOFF.factor,
    maxDelay = DEFAULT_BACKOFF.maxDelay,
    jitter = DEFAULT_BACKOFF.jitter,
  } = backoff;
  return scheduleDelay(initialDelay, factor, maxDelay, jitter, attempt, random);
}

/**
 * `backoffDelay` for a schedule whose every field is given (checked, defaults filled in): the
 * formula alone, for a caller that never passes a function. Internal.
 *
 * @example
 * ```ts
 * scheduleDelay(250, 2, 10_000, 0.5, 3, 0.5); // 1000
 * ```
 */
export function scheduleDelay(initialDelay: number, factor: number, maxDelay: number, jitter: number, attempt: number, random: number): number {
  // No wait stays no wait for any attempt (0 * Infinity would be NaN once factor ** n overflows).
  const base = initialDelay === 0 ? 0 : Math.min(maxDelay, initialDelay * factor ** (attempt - 1));
  return Math.max(0, Math.round(base * (1 + jitter * (random * 2 - 1))));
}
