import { rejectionOf } from "@durastream/client-testing";
import { InvalidOptionsError } from "@durastream/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { waitFor } from "./abortable-wait.js";
import { DurableClientError } from "./errors.js";
import { DEFAULT_RECONNECT, backoffDelay, createReconnectPolicy, isReconnectable } from "./reconnect-policy.js";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("backoffDelay", () => {
  it("doubles from initialDelay, caps at maxDelay, and takes up to half off as jitter", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => backoffDelay(attempt, 250, 10_000, 0))).toEqual([
      250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000,
    ]);
    expect(backoffDelay(3, 250, 10_000, 0.5)).toBe(750);
    expect(backoffDelay(3, 250, 10_000, 0.999)).toBeCloseTo(500.5);
    expect(backoffDelay(20, 250, 10_000, 0.5)).toBe(7500);
  });

  it("stays finite for huge attempt numbers", () => {
    expect(backoffDelay(5000, 250, 10_000, 0)).toBe(10_000);
  });
});

describe("createReconnectPolicy", () => {
  it("is off for false, and defaults to 8 retries of the exponential schedule", () => {
    expect(createReconnectPolicy(false)).toBeUndefined();
    const policy = createReconnectPolicy(undefined);
    expect(policy?.retries).toBe(DEFAULT_RECONNECT.retries);
    vi.spyOn(Math, "random").mockReturnValue(0);
    expect([1, 2, 9].map((attempt) => policy?.delayFor(attempt))).toEqual([250, 500, 10_000]);
  });

  it("uses delay(attempt) instead of the schedule, and checks what it returns", () => {
    const policy = createReconnectPolicy({ delay: (attempt) => (attempt === 3 ? -1 : attempt * 10) });
    expect(policy?.delayFor(2)).toBe(20);
    expect(() => policy?.delayFor(3)).toThrow(InvalidOptionsError);
  });

  it("allows Infinity retries, and rejects invalid numbers", () => {
    expect(createReconnectPolicy({ retries: Infinity })?.retries).toBe(Infinity);
    expect(createReconnectPolicy({ retries: 0 })?.retries).toBe(0);
    expect(() => createReconnectPolicy({ retries: Number.NaN })).toThrow(/reconnect\.retries/);
    expect(() => createReconnectPolicy({ initialDelay: Infinity })).toThrow(/reconnect\.initialDelay/);
    expect(() => createReconnectPolicy({ maxDelay: -1 })).toThrow(/reconnect\.maxDelay/);
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
