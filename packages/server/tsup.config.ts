import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/node/index.ts", "src/store/index.ts"],
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
  // Keep `node:` specifiers as written: tsup strips the prefix by default, and edge bundlers and
  // runtimes (workerd, Deno, Bun) resolve built-ins by it.
  removeNodeProtocol: false,
});
