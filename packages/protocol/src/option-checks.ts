import { describeValue } from "./describe-value.js";
import { InvalidOptionsError } from "./errors.js";

/**
 * Checks of option values that several Durastream packages take alike (the stores' `retention`
 * and `now`, callbacks such as `onError`). Each throws an `InvalidOptionsError` whose message
 * names the caller, the option, what it must be, and what it got:
 * `SqliteRunStore: "now" must be a function returning epoch-milliseconds, …; got 5.`
 */

/** The error for an option that is not what it must be. */
export function invalidOption(where: string, name: string, expected: string, value: unknown): InvalidOptionsError {
  return new InvalidOptionsError(`${where}: "${name}" must be ${expected}; got ${describeValue(value)}.`);
}

/** Throws unless `value` is undefined or milliseconds: a finite number >= 0. */
export function checkOptionalMilliseconds(where: string, name: string, value: unknown, expected = "milliseconds >= 0"): asserts value is number | undefined {
  if (value !== undefined && (typeof value !== "number" || !Number.isFinite(value) || value < 0)) {
    throw invalidOption(where, name, expected, value);
  }
}

/** Throws unless `value` is undefined or a function. */
export function checkOptionalFunction(where: string, name: string, value: unknown, expected = "a function"): void {
  if (value !== undefined && typeof value !== "function") throw invalidOption(where, name, expected, value);
}

/** A run store's `retention`: how long finished runs are kept, milliseconds >= 0 (or undefined for the default). */
export function checkStoreRetention(store: string, retention: unknown, defaultRetention: string): asserts retention is number | undefined {
  checkOptionalMilliseconds(
    store,
    "retention",
    retention,
    `milliseconds >= 0 (how long finished runs are kept, default ${defaultRetention}), e.g. { retention: 60 * 60_000 }`,
  );
}

/** A run store's `now`: its clock, a function returning epoch-milliseconds (or undefined for `Date.now`). */
export function checkStoreClock(store: string, now: unknown): void {
  checkOptionalFunction(store, "now", now, "a function returning epoch-milliseconds, e.g. { now: () => Date.now() }");
}
