import { InvalidOptionsError } from "@durastream/protocol";
import { DurableClientError } from "./errors.js";
import type { ReconnectOptions } from "./fetch-with-stream-options.js";

/**
 * Defaults of `ReconnectOptions`: 8 attempts in a row, waiting from 250 ms (doubling) up to 10 s.
 *
 * @example
 * ```ts
 * await fetchWithStream("/api/chat", { reconnect: { ...DEFAULT_RECONNECT, retries: 20 } });
 * ```
 */
export const DEFAULT_RECONNECT = Object.freeze({ retries: 8, initialDelay: 250, maxDelay: 10_000 });

/** The share of each exponential wait that jitter may take away: waits fall in `[wait / 2, wait]`. */
const JITTER = 0.5;

/**
 * `ReconnectOptions` checked and with defaults filled in. Internal.
 *
 * @example
 * ```ts
 * const policy = createReconnectPolicy({ retries: 3 });
 * if (policy !== undefined && attempt <= policy.retries) await waitFor(policy.delayFor(attempt), signal);
 * ```
 */
export interface ReconnectPolicy {
  /** How many attempts in a row to make. */
  readonly retries: number;
  /** The wait before attempt `attempt` (from 1), in milliseconds. */
  delayFor(attempt: number): number;
}

/**
 * Checks `ReconnectOptions` and fills in the defaults; `undefined` for `reconnect: false`. Throws an
 * `InvalidOptionsError` for an invalid number.
 *
 * @example
 * ```ts
 * createReconnectPolicy({ delay: () => 0 })?.delayFor(3); // 0
 * createReconnectPolicy(false); // undefined
 * ```
 */
export function createReconnectPolicy(options: false | ReconnectOptions | undefined): ReconnectPolicy | undefined {
  if (options === false) return undefined;
  const retries = options?.retries ?? DEFAULT_RECONNECT.retries;
  const initialDelay = options?.initialDelay ?? DEFAULT_RECONNECT.initialDelay;
  const maxDelay = options?.maxDelay ?? DEFAULT_RECONNECT.maxDelay;
  if (retries !== Infinity && (!Number.isInteger(retries) || retries < 0)) {
    throw new InvalidOptionsError(`reconnect.retries must be a whole number >= 0 (or Infinity), got ${String(retries)}.`);
  }
  checkDelay("reconnect.initialDelay", initialDelay);
  checkDelay("reconnect.maxDelay", maxDelay);
  const delay = options?.delay;
  return {
    retries,
    delayFor:
      delay === undefined
        ? (attempt) => backoffDelay(attempt, initialDelay, maxDelay, Math.random())
        : (attempt) => checkDelay(`reconnect.delay(${attempt})`, delay(attempt)),
  };
}

/**
 * The exponential backoff with jitter: `min(maxDelay, initialDelay * 2 ** (attempt - 1))`, less up
 * to half of it, as `random` (in `[0, 1)`) says.
 *
 * @example
 * ```ts
 * backoffDelay(3, 250, 10_000, 0);   // 1000
 * backoffDelay(3, 250, 10_000, 0.5); // 750
 * backoffDelay(9, 250, 10_000, 0);   // 10000 (capped)
 * ```
 */
export function backoffDelay(attempt: number, initialDelay: number, maxDelay: number, random: number): number {
  const ceiling = Math.min(maxDelay, initialDelay * 2 ** (attempt - 1));
  return ceiling - ceiling * JITTER * random;
}

/**
 * True for the failures a reconnect may cure: the network (`NETWORK`), a stream that ended before
 * its result (`STREAM_ENDED`), and a server that is failing or overloaded (`HTTP` 5xx or 429).
 * Protocol errors, other HTTP statuses (a 404 is an unknown run or a bad token) and too many
 * redirects are final.
 *
 * @example
 * ```ts
 * isReconnectable(new DurableClientError("HTTP", "…", { status: 503 })); // true
 * isReconnectable(new DurableClientError("HTTP", "…", { status: 404 })); // false
 * ```
 */
export function isReconnectable(error: unknown): error is DurableClientError {
  if (!DurableClientError.isInstance(error)) return false;
  switch (error.code) {
    case "NETWORK":
    case "STREAM_ENDED":
      return true;
    case "HTTP":
      return error.status !== undefined && (error.status >= 500 || error.status === 429);
    default:
      return false;
  }
}

function checkDelay(name: string, value: number): number {
  if (typeof value !== "number" || !(value >= 0) || value === Infinity) {
    throw new InvalidOptionsError(`${name} must be a finite number of milliseconds >= 0, got ${String(value)}.`);
  }
  return value;
}
