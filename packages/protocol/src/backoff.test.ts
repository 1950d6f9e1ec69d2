import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_BACKOFF, backoffDelay, checkBackoff } from "./backoff.js";
import { InvalidOptionsError } from "./errors.js";

/** Valid `BackoffOptions`, every field given. */
const options = fc.record({
  initialDelay: fc.double({ min: 0, max: 1e7, noNaN: true }),
  factor: fc.double({ min: 1, max: 100, noNaN: true }),
  maxDelay: fc.double({ min: 0, max: 1e7, noNaN: true }),
  jitter: fc.double({ min: 0, max: 1, noNaN: true }),
});
const attempt = fc.integer({ min: 1, max: 5000 });
const random = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

describe("backoffDelay", () => {
  it("defaults to the server's schedule: from 1 s, doubling, up to 30 s", () => {
    expect([1, 2, 3, 6, 10].map((n) => backoffDelay({}, n, 0.5))).toEqual([1000, 2000, 4000, 30_000, 30_000]);
    expect(DEFAULT_BACKOFF).toEqual({ initialDelay: 1000, factor: 2, maxDelay: 30_000, jitter: 0.2 });
  });

  it("spreads the wait by ±jitter, as the server's retry policy does", () => {
    expect(backoffDelay({ initialDelay: 1000, jitter: 0.25 }, 1, 0)).toBe(750);
    expect(backoffDelay({ initialDelay: 1000, jitter: 0.25 }, 1, 0.999_999)).toBe(1250);
    expect(backoffDelay({ initialDelay: 1000 }, 1, 0)).toBe(800);
  });

  it("calls a function with the attempt, and refuses a bad delay from it", () => {
    expect(backoffDelay((n) => n * 10, 3, 0)).toBe(30);
    expect(() => backoffDelay(() => -1, 1, 0, "test")).toThrow("test: the backoff function returned -1 for attempt 1; return a delay in milliseconds >= 0.");
    expect(() => backoffDelay(() => Number.NaN, 2, 0)).toThrow(InvalidOptionsError);
    expect(() => backoffDelay(() => Infinity, 2, 0)).toThrow(InvalidOptionsError);
  });

  it("is a whole number of milliseconds from 0 to maxDelay without jitter, for any options and attempt", () => {
    fc.assert(
      fc.property(options, attempt, random, (backoff, n, r) => {
        const delay = backoffDelay({ ...backoff, jitter: 0 }, n, r);
        expect(Number.isInteger(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(Math.round(backoff.maxDelay));
      }),
    );
  });

  it("never shrinks from one attempt to the next without jitter", () => {
    fc.assert(
      fc.property(options, fc.integer({ min: 1, max: 200 }), (backoff, n) => {
        const flat = { ...backoff, jitter: 0 };
        expect(backoffDelay(flat, n + 1, 0.5)).toBeGreaterThanOrEqual(backoffDelay(flat, n, 0.5));
      }),
    );
  });

  it("stays within ±jitter of the unjittered wait (plus rounding), and so within [0, maxDelay * (1 + jitter)]", () => {
    fc.assert(
      fc.property(options, attempt, random, (backoff, n, r) => {
        const base = backoffDelay({ ...backoff, jitter: 0 }, n, r);
        const growth = backoff.factor ** (n - 1); // may overflow to Infinity: then the wait is maxDelay, or 0 from 0
        const exact = backoff.initialDelay === 0 ? 0 : Math.min(backoff.maxDelay, backoff.initialDelay * growth);
        const delay = backoffDelay(backoff, n, r);
        expect(Math.abs(delay - exact)).toBeLessThanOrEqual(backoff.jitter * exact + 0.5);
        expect(Math.abs(base - exact)).toBeLessThanOrEqual(0.5);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(Math.round(backoff.maxDelay * (1 + backoff.jitter)));
      }),
    );
  });

  it("is 0 for every attempt with initialDelay 0, however large the attempt", () => {
    expect(backoffDelay({ initialDelay: 0 }, 1, 0.3)).toBe(0);
    expect(backoffDelay({ initialDelay: 0, factor: 100 }, 10_000, 0.9)).toBe(0);
  });
});

describe("checkBackoff", () => {
  it("accepts a function, an empty object and valid fields", () => {
    expect(() => checkBackoff(() => 0, "test")).not.toThrow();
    expect(() => checkBackoff({}, "test")).not.toThrow();
    expect(() => checkBackoff({ initialDelay: 0, factor: 1, maxDelay: 0, jitter: 1 }, "test")).not.toThrow();
    fc.assert(fc.property(options, (backoff) => checkBackoff(backoff, "test")));
  });

  it.each([
    [{ factor: 0.5 }, 'createDurable: "backoff.factor" must be a number from 1 to 100, got 0.5.'],
    [{ initialDelay: -1 }, 'createDurable: "backoff.initialDelay" must be a number from 0 to 9007199254740991 (milliseconds), got -1.'],
    [{ maxDelay: Infinity }, 'createDurable: "backoff.maxDelay" must be a number from 0 to 9007199254740991 (milliseconds), got Infinity.'],
    [{ jitter: 2 }, 'createDurable: "backoff.jitter" must be a number from 0 to 1 (a fraction of the delay), got 2.'],
    [{ jitter: "0.1" }, 'createDurable: "backoff.jitter" must be a number from 0 to 1 (a fraction of the delay), got 0.1.'],
    [{ initialDelay: Number.NaN }, 'createDurable: "backoff.initialDelay" must be a number from 0 to 9007199254740991 (milliseconds), got NaN.'],
  ])("refuses %o with an InvalidOptionsError saying what to pass", (backoff, message) => {
    expect(() => checkBackoff(backoff, "createDurable")).toThrow(InvalidOptionsError);
    expect(() => checkBackoff(backoff, "createDurable")).toThrow(message);
  });

  it("names the option as given, and refuses what is neither an object nor a function", () => {
    expect(() => checkBackoff({ maxDelay: -5 }, "fetchWithStream", "reconnect")).toThrow('fetchWithStream: "reconnect.maxDelay" must be');
    expect(() => checkBackoff(5, "createDurable")).toThrow(/"backoff" must be an object \{ initialDelay\?, factor\?, maxDelay\?, jitter\? \} or a function/);
  });
});
