import { runInNewContext } from "node:vm";
import { describe, expect, it, vi } from "vitest";
import { ProtocolError } from "./errors.js";
import { parseOffset } from "./offset.js";

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
        Object.defineProperty(this, Symbol.for("durastream.protocol.error"), { value: true });
      }
    }
    expect(ProtocolError.isInstance(new FakeCopy())).toBe(true);
    const fromOtherRealm: unknown = runInNewContext(
      'const e = new Error("x"); Object.defineProperty(e, Symbol.for("durastream.protocol.error"), { value: true }); e',
    );
    expect(fromOtherRealm instanceof Error).toBe(false);
    expect(ProtocolError.isInstance(fromOtherRealm)).toBe(true);
  });

  it("rejects look-alikes", () => {
    const plain = Object.assign(new Error("x"), { code: "INVALID_FRAME", name: "ProtocolError" });
    const otherSymbol = new Error("x");
    Object.defineProperty(otherSymbol, Symbol("durastream.protocol.error"), { value: true });
    const truthyBrand = new Error("x");
    Object.defineProperty(truthyBrand, Symbol.for("durastream.protocol.error"), { value: "yes" });
    for (const value of [plain, otherSymbol, truthyBrand, null, undefined, "ProtocolError", 42, { code: "INVALID_FRAME" }]) {
      expect(ProtocolError.isInstance(value)).toBe(false);
    }
  });

  it("does not survive a spread copy (the brand is not enumerable)", () => {
    const error = new ProtocolError("INVALID_FRAME", "m");
    expect(ProtocolError.isInstance({ ...error })).toBe(false);
    const brand = Symbol.for("durastream.protocol.error");
    expect(Object.getOwnPropertySymbols(error)).toContain(brand);
    expect(Object.prototype.propertyIsEnumerable.call(error, brand)).toBe(false);
  });
});
