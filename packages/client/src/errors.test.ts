import { describe, expect, it } from "vitest";
import { DurastreamError, InvalidOptionsError, ProtocolError } from "@durastream/protocol";
import { DurableClientError } from "./errors.js";

describe("DurableClientError", () => {
  it("carries a code, a cause, a status and a URL", () => {
    const cause = new TypeError("fetch failed");
    const error = new DurableClientError("HTTP", "Mount the wait endpoint.", {
      cause,
      status: 404,
      url: "https://app.example/api/durable/1",
    });

    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("DurableClientError");
    expect(error.message).toBe("Mount the wait endpoint.");
    expect([error.code, error.cause, error.status, error.url]).toEqual(["HTTP", cause, 404, "https://app.example/api/durable/1"]);
  });

  it("leaves cause, status and url unset when not given", () => {
    const error = new DurableClientError("STREAM_ENDED", "Retry.");

    expect("cause" in error).toBe(false);
    expect(error.status).toBeUndefined();
    expect(error.url).toBeUndefined();
  });

  it("recognizes instances from other copies of the package through a Symbol.for marker", () => {
    const fromAnotherCopy = Object.assign(new Error("x"), { code: "NETWORK" });
    Object.defineProperty(fromAnotherCopy, Symbol.for("durastream.error.DurableClientError"), { value: true });

    expect(DurableClientError.isInstance(new DurableClientError("NETWORK", "x"))).toBe(true);
    expect(DurableClientError.isInstance(fromAnotherCopy)).toBe(true);
    expect(DurableClientError.isInstance(new Error("x"))).toBe(false);
    expect(DurableClientError.isInstance({ code: "NETWORK" })).toBe(false);
    expect(DurableClientError.isInstance(null)).toBe(false);
    expect(DurableClientError.isInstance("NETWORK")).toBe(false);
  });

  it("is a DurastreamError, and exact: other Durastream errors are no DurableClientError", () => {
    const error = new DurableClientError("NETWORK", "x");
    expect(DurastreamError.isInstance(error)).toBe(true);
    expect(error).toBeInstanceOf(DurastreamError);
    expect(DurableClientError.isInstance(new ProtocolError("INVALID_FRAME", "x"))).toBe(false);
    expect(DurableClientError.isInstance(new InvalidOptionsError("x"))).toBe(false);
    // The base marker alone (a DurastreamError of another kind, with a client code) is not enough.
    expect(DurableClientError.isInstance(new DurastreamError("NETWORK", "x"))).toBe(false);
  });
});

describe("option validation", () => {
  it("throws InvalidOptionsError (code INVALID_OPTIONS) for bad options, never a TypeError or RangeError", async () => {
    const { createDurableStream, fetchWithStream, resumeStream } = await import("./index.js");
    const failures: unknown[] = [];
    try {
      createDurableStream({} as never);
    } catch (error) {
      failures.push(error);
    }
    failures.push(
      await fetchWithStream("https://app.example/api", { maxRedirects: -1, fetch: () => Promise.reject(new Error("unused")) }).catch((error: unknown) => error),
    );
    failures.push(
      await fetchWithStream("https://app.example/api", { reconnect: { retries: 0.5 }, fetch: () => Promise.reject(new Error("unused")) }).catch(
        (error: unknown) => error,
      ),
    );
    failures.push(
      await resumeStream("https://app.example/api/durable/1", { offset: "nope", fetch: () => Promise.reject(new Error("unused")) }).catch(
        (error: unknown) => error,
      ),
    );
    expect(failures).toHaveLength(4);
    for (const error of failures) {
      expect(InvalidOptionsError.isInstance(error)).toBe(true);
      expect(error).toMatchObject({ name: "InvalidOptionsError", code: "INVALID_OPTIONS" });
      expect(error).not.toBeInstanceOf(TypeError);
      expect(error).not.toBeInstanceOf(RangeError);
    }
  });
});
