import { describe, expect, it } from "vitest";
import { describeValue } from "./describe-value.js";

describe("describeValue", () => {
  it("quotes strings and prints other primitives", () => {
    expect(describeValue("")).toBe('""');
    expect(describeValue("redis://x")).toBe('"redis://x"');
    expect(describeValue(42)).toBe("42");
    expect(describeValue(Number.NaN)).toBe("NaN");
    expect(describeValue(true)).toBe("true");
    expect(describeValue(undefined)).toBe("undefined");
    expect(describeValue(null)).toBe("null");
    expect(describeValue(10n)).toBe("10n");
    expect(describeValue(Symbol("s"))).toBe("Symbol(s)");
  });

  it("names functions, arrays and objects by kind", () => {
    expect(describeValue(() => {})).toBe("a function");
    expect(describeValue([1, 2])).toBe("an array (length 2)");
    expect(describeValue({})).toBe("an object (Object)");
    expect(describeValue(new Map())).toBe("an object (Map)");
    expect(describeValue(Object.create(null))).toBe("an object ([object Object])");
  });

  it("never throws", () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(describeValue(proxy)).toBe("an object");
    const hostile = Object.defineProperty({}, "constructor", {
      get() {
        throw new Error("no");
      },
    });
    expect(describeValue(hostile)).toBe("an object");
  });
});
