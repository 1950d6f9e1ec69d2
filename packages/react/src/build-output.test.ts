import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const built = new URL("../dist/index.js", import.meta.url);

describe("the built package", () => {
  // `pnpm test` builds before it runs the tests; a bare `vitest run` may have no dist/ to check.
  it.skipIf(!existsSync(built))("starts with the 'use client' directive (tsup banner), and only once", () => {
    const code = readFileSync(built, "utf8");
    expect(code.startsWith('"use client";')).toBe(true);
    expect(code.match(/["']use client["']/g)).toHaveLength(1);
  });
});
