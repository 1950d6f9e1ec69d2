// Runs only the useChat browser test: pnpm exec vitest run --config packages/ai/browser-test/vitest.config.ts
// (`pnpm test` runs it with the rest through the root config.)
import { fileURLToPath } from "node:url";
import { defineConfig, mergeConfig } from "vitest/config";
import rootConfig from "../../../vitest.config.js";

const config = mergeConfig(rootConfig, defineConfig({ root: fileURLToPath(new URL("../../..", import.meta.url)) }));
config.test!.include = ["packages/ai/browser-test/**/*.test.ts"];
export default config;
