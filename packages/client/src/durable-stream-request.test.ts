import { describe, expect, it, vi } from "vitest";
import { linkSignal, mergeRequestInit, resumeRequestInit } from "./durable-stream-request.js";

describe("durable stream requests", () => {
  it("merges start()'s input over fetchOpts, headers included", () => {
    const merged = mergeRequestInit({ method: "POST", headers: { "x-app": "chat", "x-trace": "0" } }, { body: "{}", headers: [["x-trace", "1"]] });
    expect(merged.method).toBe("POST");
    expect(merged.body).toBe("{}");
    expect(Object.fromEntries(new Headers(merged.headers))).toEqual({ "x-app": "chat", "x-trace": "1" });
    expect(mergeRequestInit(undefined, undefined)).toEqual({});
    expect(mergeRequestInit({ headers: { a: "1" } }, { body: "x" }).headers).toEqual({ a: "1" });
  });

  it("keeps what a resume GET may carry, and takes the signal apart", () => {
    const signal = new AbortController().signal;
    const { init, signal: taken } = resumeRequestInit({
      method: "POST",
      body: "{}",
      credentials: "include",
      signal,
      headers: { "last-event-id": "1-1", authorization: "Bearer t" },
    });
    expect(taken).toBe(signal);
    expect(init).not.toHaveProperty("method");
    expect(init).not.toHaveProperty("body");
    expect(init.credentials).toBe("include");
    expect(Object.fromEntries(new Headers(init.headers))).toEqual({ authorization: "Bearer t" });
  });

  it("links a signal: at once when already aborted, once otherwise, and not after unlinking", () => {
    const onAbort = vi.fn();
    linkSignal(AbortSignal.abort("early"), onAbort);
    expect(onAbort).toHaveBeenCalledWith("early");

    const later = vi.fn();
    const controller = new AbortController();
    linkSignal(controller.signal, later);
    controller.abort("late");
    expect(later).toHaveBeenCalledExactlyOnceWith("late");

    const unlinked = vi.fn();
    const other = new AbortController();
    linkSignal(other.signal, unlinked)();
    other.abort();
    expect(unlinked).not.toHaveBeenCalled();
    expect(linkSignal(undefined, unlinked)).toBeTypeOf("function");
  });
});
