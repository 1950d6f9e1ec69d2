import { rejectionOf } from "@durastream/client-testing";
import { InvalidOptionsError } from "@durastream/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { waitFor } from "./abortable-wait.js";
import { DurableClientError } from "./errors.js";
import type { ReconnectOptions } from "./fetch-with-stream-options.js";
import { DEFAULT_RECONNECT, createReconnectPolicy, isReconnectable } from "./reconnect-policy.js";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("createReconnectPolicy", () => {
  it("is off for false, and defaults to 8 retries from 250 ms, doubling up to 10 s, ±50 %", () => {
    expect(createReconnectPolicy(false, "test")).toBeUndefined();
    const policy = createReconnectPolicy(undefined, "test");
    expect(policy?.retries).toBe(DEFAULT_RECONNECT.retries);
    expect(DEFAULT_RECONNECT).toEqual({ retries: 8, initialDelay: 250, factor: 2, maxDelay: 10_000, jitter: 0.5 });
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    expect([1, 2, 3, 7, 8, 9, 5000].map((attempt) => policy?.delayFor(attempt))).toEqual([250, 500, 1000, 10_000, 10_000, 10_000, 10_000]);
    vi.spyOn(Math, "random").mockReturnValue(0);
    expect([1, 3, 9].map((attempt) => policy?.delayFor(attempt))).toEqual([125, 500, 5000]);
    vi.spyOn(Math, "random").mockReturnValue(0.999_999);
    expect([1, 3, 9].map((attempt) => policy?.delayFor(attempt))).toEqual([375, 1500, 15_000]);
  });

  it("takes the backoff fields of the server's Backoff: factor and jitter too", () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const policy = createReconnectPolicy({ initialDelay: 100, factor: 3, maxDelay: 1000, jitter: 0 }, "test");
    expect([1, 2, 3, 4].map((attempt) => policy?.delayFor(attempt))).toEqual([100, 300, 900, 1000]);
    expect(createReconnectPolicy({ initialDelay: 0 }, "test")?.delayFor(10_000)).toBe(0);
  });

  it("allows Infinity retries, and rejects invalid numbers, naming the option and the function", () => {
    expect(createReconnectPolicy({ retries: Infinity }, "test")?.retries).toBe(Infinity);
    expect(createReconnectPolicy({ retries: 0 }, "test")?.retries).toBe(0);
    expect(() => createReconnectPolicy({ retries: Number.NaN }, "test")).toThrow(/reconnect\.retries/);
    expect(() => createReconnectPolicy({ initialDelay: Infinity }, "fetchWithStream")).toThrow(
      'fetchWithStream: "reconnect.initialDelay" must be a number from 0 to 9007199254740991 (milliseconds), got Infinity.',
    );
    expect(() => createReconnectPolicy({ maxDelay: -1 }, "test")).toThrow(/reconnect\.maxDelay/);
    expect(() => createReconnectPolicy({ factor: 0 }, "test")).toThrow(/reconnect\.factor/);
    expect(() => createReconnectPolicy({ jitter: -0.1 }, "test")).toThrow(InvalidOptionsError);
  });

  it("refuses the removed delay(attempt), saying which fields to pass", () => {
    expect(() => createReconnectPolicy({ delay: () => 0 } as unknown as ReconnectOptions, "resumeStream")).toThrow(InvalidOptionsError);
    expect(() => createReconnectPolicy({ delay: () => 0 } as unknown as ReconnectOptions, "resumeStream")).toThrow(
      /reconnect\.delay" was removed.*initialDelay: 0/,
    );
  });
});

describe("isReconnectable", () => {
  it.each([
    ["NETWORK", undefined, true],
    ["STREAM_ENDED", undefined, true],
    ["HTTP", 500, true],
    ["HTTP", 503, true],
    ["HTTP", 429, true],
    ["HTTP", 404, false],
    ["HTTP", 401, false],
    ["HTTP", 200, false],
    ["PROTOCOL", undefined, false],
    ["TOO_MANY_REDIRECTS", undefined, false],
  ] as const)("%s %s → %s", (code, status, expected) => {
    expect(isReconnectable(new DurableClientError(code, "x", status === undefined ? {} : { status }))).toBe(expected);
  });

  it("is false for anything that is not a DurableClientError", () => {
    expect(isReconnectable(new TypeError("fetch failed"))).toBe(false);
    expect(isReconnectable(undefined)).toBe(false);
  });
});

describe("waitFor", () => {
  it("resolves after the delay, on setTimeout", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    let done = false;
    const waiting = waitFor(100, undefined).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(99);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await waiting;
    expect(done).toBe(true);
  });

  it("rejects with the signal's reason on abort and clears its timer", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const controller = new AbortController();
    const waiting = rejectionOf(waitFor(60_000, controller.signal));
    expect(vi.getTimerCount()).toBe(1);
    const reason = new Error("left the page");
    controller.abort(reason);

    expect(await waiting).toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("rejects at once for an aborted signal, without a timer", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const signal = AbortSignal.abort();
    const waiting = rejectionOf(waitFor(10, signal));
    expect(vi.getTimerCount()).toBe(0);
    expect(await waiting).toBe(signal.reason);
  });
});
