import { runInNewContext } from "node:vm";
import { describe, expect, it, vi } from "vitest";
import { DurastreamError, InvalidOptionsError, ProtocolError } from "./errors.js";
import { encodeComment } from "./encode.js";
import { parseOffset } from "./offset.js";
import { snapshotResponse } from "./response-snapshot.js";
import { hashStepId } from "./step-id.js";

describe("ProtocolError", () => {
  it("carries its code, message and name, and is an Error", () => {
    const error = new ProtocolError("UNKNOWN_EVENT", "Unknown SSE event");
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe("UNKNOWN_EVENT");
    expect(error.message).toBe("Unknown SSE event");
    expect(error.name).toBe("ProtocolError");
    expect(error.raw).toBeUndefined();
    expect("cause" in error).toBe(false);
    expect(String(error)).toBe("ProtocolError: Unknown SSE event");
  });

  it("keeps a cause and the raw text", () => {
    const cause = new SyntaxError("Unexpected token");
    const error = new ProtocolError("MALFORMED_FRAME", "not JSON", { cause, raw: "{oops" });
    expect(error.cause).toBe(cause);
    expect(error.raw).toBe("{oops");
  });

  it("keeps a falsy cause other than undefined", () => {
    expect(new ProtocolError("INVALID_FRAME", "m", { cause: 0 }).cause).toBe(0);
    expect("cause" in new ProtocolError("INVALID_FRAME", "m", { cause: undefined })).toBe(false);
  });

  it("is what the package throws", () => {
    let caught: unknown;
    try {
      parseOffset("nope");
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ProtocolError);
    expect(ProtocolError.isInstance(caught)).toBe(true);
  });
});

describe("ProtocolError.isInstance", () => {
  it("recognizes errors from a second copy of the module, where instanceof fails", async () => {
    vi.resetModules();
    const second = (await import("./errors.js")) as typeof import("./errors.js");
    expect(second.ProtocolError).not.toBe(ProtocolError);
    const fromSecond = new second.ProtocolError("INVALID_OFFSET", "bad");
    expect(fromSecond instanceof ProtocolError).toBe(false);
    expect(ProtocolError.isInstance(fromSecond)).toBe(true);
    expect(second.ProtocolError.isInstance(new ProtocolError("INVALID_OFFSET", "bad"))).toBe(true);
  });

  it("recognizes a hand-made copy with the same Symbol.for brand, even from another realm", () => {
    class FakeCopy extends Error {
      readonly code = "INVALID_FRAME";
      constructor() {
        super("from a fake second bundle");
        Object.defineProperty(this, Symbol.for("durastream.error.ProtocolError"), { value: true });
      }
    }
    expect(ProtocolError.isInstance(new FakeCopy())).toBe(true);
    const fromOtherRealm: unknown = runInNewContext(
      'const e = new Error("x"); Object.defineProperty(e, Symbol.for("durastream.error.ProtocolError"), { value: true }); e',
    );
    expect(fromOtherRealm instanceof Error).toBe(false);
    expect(ProtocolError.isInstance(fromOtherRealm)).toBe(true);
  });

  it("rejects look-alikes", () => {
    const plain = Object.assign(new Error("x"), { code: "INVALID_FRAME", name: "ProtocolError" });
    const otherSymbol = new Error("x");
    Object.defineProperty(otherSymbol, Symbol("durastream.error.ProtocolError"), { value: true });
    const truthyBrand = new Error("x");
    Object.defineProperty(truthyBrand, Symbol.for("durastream.error.ProtocolError"), { value: "yes" });
    for (const value of [plain, otherSymbol, truthyBrand, null, undefined, "ProtocolError", 42, { code: "INVALID_FRAME" }]) {
      expect(ProtocolError.isInstance(value)).toBe(false);
    }
  });

  it("does not survive a spread copy (the brand is not enumerable)", () => {
    const error = new ProtocolError("INVALID_FRAME", "m");
    expect(ProtocolError.isInstance({ ...error })).toBe(false);
    for (const marker of [Symbol.for("durastream.error"), Symbol.for("durastream.error.ProtocolError")]) {
      expect(Object.getOwnPropertySymbols(error)).toContain(marker);
      expect(Object.prototype.propertyIsEnumerable.call(error, marker)).toBe(false);
    }
  });
});

describe("DurastreamError", () => {
  it("is the base of ProtocolError and InvalidOptionsError, with code, message, name and cause", () => {
    const cause = new Error("root");
    const base = new DurastreamError("SOMETHING", "m", { cause });
    expect(base).toBeInstanceOf(Error);
    expect(base).toMatchObject({ name: "DurastreamError", code: "SOMETHING", message: "m", cause });
    expect("cause" in new DurastreamError("X", "m")).toBe(false);
    const protocol = new ProtocolError("INVALID_FRAME", "m");
    const invalid = new InvalidOptionsError("bad", { cause });
    expect(protocol).toBeInstanceOf(DurastreamError);
    expect(invalid).toBeInstanceOf(DurastreamError);
    expect(invalid).toMatchObject({ name: "InvalidOptionsError", code: "INVALID_OPTIONS", message: "bad", cause });
    for (const error of [base, protocol, invalid]) expect(DurastreamError.isInstance(error)).toBe(true);
  });

  it("has isInstance exact per subclass: one marker per class, not the code", () => {
    const protocol = new ProtocolError("INVALID_FRAME", "m");
    const invalid = new InvalidOptionsError("bad");
    expect(ProtocolError.isInstance(invalid)).toBe(false);
    expect(InvalidOptionsError.isInstance(protocol)).toBe(false);
    // A base error with a subclass's code is not that subclass.
    expect(InvalidOptionsError.isInstance(new DurastreamError("INVALID_OPTIONS", "m"))).toBe(false);
    expect(ProtocolError.isInstance(new DurastreamError("INVALID_FRAME", "m"))).toBe(false);
    for (const value of [null, undefined, 42, "x", new Error("x"), { code: "INVALID_OPTIONS" }]) {
      expect(DurastreamError.isInstance(value)).toBe(false);
      expect(InvalidOptionsError.isInstance(value)).toBe(false);
    }
  });

  it("recognizes errors of a second copy: a separately defined class with the same Symbol.for markers", () => {
    class OtherCopyInvalidOptionsError extends Error {
      readonly code = "INVALID_OPTIONS";
      constructor(message: string) {
        super(message);
        for (const marker of ["durastream.error", "durastream.error.InvalidOptionsError"]) {
          Object.defineProperty(this, Symbol.for(marker), { value: true });
        }
      }
    }
    const foreign = new OtherCopyInvalidOptionsError("from another copy");
    expect(foreign instanceof InvalidOptionsError).toBe(false);
    expect(InvalidOptionsError.isInstance(foreign)).toBe(true);
    expect(DurastreamError.isInstance(foreign)).toBe(true);
    expect(ProtocolError.isInstance(foreign)).toBe(false);
  });

  it("never throws in isInstance, even for a revoked Proxy", () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(DurastreamError.isInstance(proxy)).toBe(false);
    expect(ProtocolError.isInstance(proxy)).toBe(false);
  });
});

describe("option validation", () => {
  it("throws InvalidOptionsError (code INVALID_OPTIONS) for bad arguments, never a TypeError or RangeError", async () => {
    const failures: unknown[] = [];
    failures.push(await hashStepId("a", -1).catch((error: unknown) => error));
    try {
      encodeComment("a\nb");
    } catch (error) {
      failures.push(error);
    }
    const used = new Response("x");
    await used.text();
    failures.push(await snapshotResponse(used, { maxBodyBytes: 10 }).catch((error: unknown) => error));
    expect(failures).toHaveLength(3);
    for (const error of failures) {
      expect(InvalidOptionsError.isInstance(error)).toBe(true);
      expect(error).toMatchObject({ name: "InvalidOptionsError", code: "INVALID_OPTIONS" });
      expect(error).not.toBeInstanceOf(TypeError);
      expect(error).not.toBeInstanceOf(RangeError);
    }
  });
});
