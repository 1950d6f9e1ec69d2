import { defaultClientConditions, defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

// Tests run against `src/` through the `@durastream/source` export condition, so no build is needed.
const sourceCondition = "@durastream/source";

export default defineConfig({
  resolve: { conditions: [sourceCondition, ...defaultClientConditions] },
  ssr: { resolve: { conditions: [sourceCondition, ...defaultServerConditions] } },
  test: {
    include: [
      "packages/*/src/**/*.test.ts",
      "packages/*/browser-test/**/*.test.ts",
      "examples/*/*.test.ts",
      "playground/*.test.ts",
      "runtime-tests/**/*.test.ts",
      "*.test.ts",
    ],
    testTimeout: 20_000,
    reporters: ["default", "./vitest.summary-reporter.ts"],
    // A fixed resume-token secret, so tests do not print the no-secret warning.
    env: { DURASTREAM_SECRET: "test-secret-for-resume-tokens-only" },
  },
});
