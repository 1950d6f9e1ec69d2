import { InvalidOptionsError } from "@durastream/protocol";
import { checkBackoffFields, scheduleDelay } from "@durastream/protocol/internal";
import { DurableClientError } from "./errors.js";
import type { ReconnectOptions } from "./fetch-with-stream-options.js";

/**
 * Defaults of `ReconnectOptions`: 8 attempts in a row, waiting from 250 ms (doubling) up to 10 s,
 * each wait spread by ±50 % (jitter).
 *
 * @example
 * ```ts
 * await fetchWithStream("/api/chat", { reconnect: { ...DEFAULT_RECONNECT, retries: 20 } });
 * ```
 */
export const DEFAULT_RECONNECT = /* @__PURE__ */ Object.freeze({ retries: 8, initialDelay: 250, factor: 2, maxDelay: 10_000, jitter: 0.5 });

/**
 * `ReconnectOptions` checked and with defaults filled in. Internal.
 */
export interface ReconnectPolicy {
  /** How many attempts in a row to make. */
  readonly retries: number;
  /** The wait before attempt `attempt` (from 1), in milliseconds. */
  delayFor(attempt: number): number;
}

/**
 * Checks `ReconnectOptions` and fills in the defaults; `undefined` for `reconnect: false`. Throws an
 * `InvalidOptionsError` for an invalid number, its message prefixed with `where` (the function
 * that was given the options). Internal.
 */
export function createReconnectPolicy(options: false | ReconnectOptions | undefined, where: string): ReconnectPolicy | undefined {
  if (options === false) return undefined;
  const { retries = DEFAULT_RECONNECT.retries, ...backoff } = options ?? {};
  if ("delay" in backoff) {
    throw new InvalidOptionsError(
      `${where}: "reconnect.delay" was removed; pass the backoff fields instead: { initialDelay: 0 } for no wait, { initialDelay: n, factor: 1, jitter: 0 } for a fixed one.`,
    );
  }
  if (retries !== Infinity && (!Number.isInteger(retries) || retries < 0)) {
    throw new InvalidOptionsError(`${where}: "reconnect.retries" must be a whole number >= 0 (or Infinity), got ${String(retries)}.`);
  }
  // `backoff` is the rest of a destructured object, so always an object: only its fields need checking.
  checkBackoffFields(backoff, where, "reconnect");
  // Resolved once: each attempt only computes its wait.
  const {
    initialDelay = DEFAULT_RECONNECT.initialDelay,
    factor = DEFAULT_RECONNECT.factor,
    maxDelay = DEFAULT_RECONNECT.maxDelay,
    jitter = DEFAULT_RECONNECT.jitter,
  } = backoff;
  return { retries, delayFor: (attempt) => scheduleDelay(initialDelay, factor, maxDelay, jitter, attempt, Math.random()) };
}

/**
 * True for the failures a reconnect may cure: the network (`NETWORK`), a stream that ended before
 * its result (`STREAM_ENDED`), and a server that is failing or overloaded (`HTTP` 5xx or 429).
 * Protocol errors, other HTTP statuses (a 404 is an unknown run or a bad token) and too many
 * redirects are final. Internal.
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
