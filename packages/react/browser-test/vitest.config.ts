// Runs only the browser test: pnpm exec vitest run --config packages/react/browser-test/vitest.config.ts
// (`pnpm test` runs it with the rest through the root config.)
import { fileURLToPath } from "node:url";
import { defineConfig, mergeConfig } from "vitest/config";
import rootConfig from "../../../vitest.config.js";

const config = mergeConfig(rootConfig, defineConfig({ root: fileURLToPath(new URL("../../..", import.meta.url)) }));
config.test!.include = ["packages/react/browser-test/**/*.test.ts"];
export default config;
