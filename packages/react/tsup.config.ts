import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
  // Keep `node:` specifiers as written: tsup strips the prefix by default, and edge bundlers and
  // runtimes (workerd, Deno, Bun) resolve built-ins by it.
  removeNodeProtocol: false,
  external: ["react", "@durastream/client"],
  // esbuild drops module-level directives when it bundles (with a warning), so the source file's
  // 'use client' would be lost: the banner puts it back as the first line of the built file. The
  // whole entry is client code (the hook and types), so marking all of it is right.
  banner: { js: '"use client";' },
});
