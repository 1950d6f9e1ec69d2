import { describe, expect, it } from "vitest";
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
    expect([error.code, error.cause, error.status, error.url]).toEqual([
      "HTTP",
      cause,
      404,
      "https://app.example/api/durable/1",
    ]);
  });

  it("leaves cause, status and url unset when not given", () => {
    const error = new DurableClientError("STREAM_ENDED", "Retry.");

    expect("cause" in error).toBe(false);
    expect(error.status).toBeUndefined();
    expect(error.url).toBeUndefined();
  });

  it("recognizes instances from other copies of the package through a Symbol.for brand", () => {
    const fromAnotherCopy = Object.assign(new Error("x"), { code: "NETWORK" });
    Object.defineProperty(fromAnotherCopy, Symbol.for("durastream.client.error"), { value: true });

    expect(DurableClientError.isInstance(new DurableClientError("NETWORK", "x"))).toBe(true);
    expect(DurableClientError.isInstance(fromAnotherCopy)).toBe(true);
    expect(DurableClientError.isInstance(new Error("x"))).toBe(false);
    expect(DurableClientError.isInstance({ code: "NETWORK" })).toBe(false);
    expect(DurableClientError.isInstance(null)).toBe(false);
    expect(DurableClientError.isInstance("NETWORK")).toBe(false);
  });
});
