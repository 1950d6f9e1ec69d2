import { afterEach, describe, expect, it, vi } from "vitest";
import { systemTimers } from "./timers.js";

describe("systemTimers", () => {
  afterEach(() => vi.useRealTimers());

  it("waits the whole delay past the platform's 24.8-day limit instead of firing at once", () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    const thirtyDays = 30 * 24 * 3_600_000;
    systemTimers.setTimeout(fired, thirtyDays);
    vi.advanceTimersByTime(1000);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(thirtyDays - 1001);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledOnce();
  });

  it("clears a long timer in any of its parts", () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    const handle = systemTimers.setTimeout(fired, 40 * 24 * 3_600_000);
    vi.advanceTimersByTime(2_147_483_647 + 10);
    systemTimers.clearTimeout(handle);
    vi.advanceTimersByTime(40 * 24 * 3_600_000);
    expect(fired).not.toHaveBeenCalled();
  });
});
