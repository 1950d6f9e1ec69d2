import { afterEach, describe, expect, it, vi } from "vitest";
import { resolveRetryPolicy } from "./retry-policy.js";

describe("resolveRetryPolicy", () => {
  afterEach(() => vi.restoreAllMocks());

  it("defaults to 3 retries and exponential backoff from 1 s, capped at 30 s", () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5); // no jitter
    const policy = resolveRetryPolicy("test");
    expect(policy.retries).toBe(3);
    expect([1, 2, 3, 6, 10].map(policy.delayFor)).toEqual([1000, 2000, 4000, 30_000, 30_000]);
  });

  it("spreads delays by the jitter fraction", () => {
    const policy = resolveRetryPolicy("test", { backoff: { initialDelay: 1000, jitter: 0.25 } });
    vi.spyOn(Math, "random").mockReturnValue(0);
    expect(policy.delayFor(1)).toBe(750);
    vi.spyOn(Math, "random").mockReturnValue(0.999_999);
    expect(policy.delayFor(1)).toBe(1250);
  });

  it("lets later layers override earlier ones", () => {
    const policy = resolveRetryPolicy("test", { retries: 5, backoff: () => 7 }, { retries: 1 }, undefined);
    expect(policy.retries).toBe(1);
    expect(policy.delayFor(3)).toBe(7);
  });

  it("refuses a backoff function that returns a bad delay", () => {
    const policy = resolveRetryPolicy("test", { backoff: () => -1 });
    expect(() => policy.delayFor(1)).toThrow(/returned -1 for attempt 1/);
  });
});
