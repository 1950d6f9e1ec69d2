import { describe, expect, it } from "vitest";
import { ResumeTokens } from "./resume-token.js";

describe("ResumeTokens", () => {
  const tokens = new ResumeTokens("a-long-enough-test-secret");

  it("verifies a token for its run until it expires, and nothing else", async () => {
    const token = await tokens.sign("run-1", 10_000);
    expect(token).toMatch(/^10\.[\w-]{43}$/);
    expect(await tokens.verify("run-1", token, 9_999)).toBe(true);
    expect(await tokens.verify("run-1", token, 10_000)).toBe(false);
    expect(await tokens.verify("run-2", token, 0)).toBe(false);
    const [, signature] = token.split(".");
    expect(await tokens.verify("run-1", `20.${signature}`, 0)).toBe(false); // a later expiry is not signed
    expect(await tokens.verify("run-1", null, 0)).toBe(false);
    expect(await tokens.verify("run-1", "garbage", 0)).toBe(false);
    expect(await new ResumeTokens("another-long-test-secret").verify("run-1", token, 0)).toBe(false);
  });
});
