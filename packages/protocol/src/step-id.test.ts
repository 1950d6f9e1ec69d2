import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hashStepId } from "./step-id.js";

const sha1 = (text: string) => createHash("sha1").update(text, "utf8").digest("hex");

describe("hashStepId", () => {
  it("matches well-known SHA-1 values", async () => {
    expect(await hashStepId("")).toBe("da39a3ee5e6b4b0d3255bfef95601890afd80709");
    expect(await hashStepId("abc")).toBe("a9993e364706816aba3e25717850c26c9cd0d89d");
    expect(await hashStepId("generate")).toBe("9e59d42533de13285d6ef99427563967a25bfcf7");
  });

  it("is the hex SHA-1 of the id on its first use (repeat 0 is the default)", async () => {
    expect(await hashStepId("summarize")).toBe(sha1("summarize"));
    expect(await hashStepId("summarize", 0)).toBe(sha1("summarize"));
  });

  it('hashes "id:N" for the N-th repeat, N from 1', async () => {
    expect(await hashStepId("generate", 1)).toBe("729ddfa0e7394f74523dc72de012e1370dcf5c53");
    expect(await hashStepId("generate", 1)).toBe(sha1("generate:1"));
    expect(await hashStepId("generate", 2)).toBe(sha1("generate:2"));
    expect(await hashStepId("generate", 10)).toBe(sha1("generate:10"));
    const hashes = await Promise.all([0, 1, 2, 3].map((repeat) => hashStepId("generate", repeat)));
    expect(new Set(hashes).size).toBe(4);
  });

  it("hashes the UTF-8 bytes of non-ASCII ids", async () => {
    expect(await hashStepId("étape 中 😀")).toBe(sha1("étape 中 😀"));
    expect(await hashStepId("étape 中 😀", 3)).toBe(sha1("étape 中 😀:3"));
  });

  it("returns 40 lowercase hex digits", async () => {
    expect(await hashStepId("Generate")).toMatch(/^[0-9a-f]{40}$/);
  });

  it("agrees with node:crypto for any id and repeat", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "grapheme", maxLength: 30 }), fc.nat({ max: 1000 }), async (id, repeat) => {
        expect(await hashStepId(id, repeat)).toBe(sha1(repeat === 0 ? id : `${id}:${repeat}`));
      }),
      { numRuns: 200 },
    );
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])("rejects repeat %s", async (repeat) => {
    await expect(hashStepId("generate", repeat)).rejects.toMatchObject({ name: "InvalidOptionsError", code: "INVALID_OPTIONS" });
    await expect(hashStepId("generate", repeat)).rejects.toThrow(/repeat must be a whole number >= 0/);
  });
});
