// `node scripts/check-install.mjs` (in `pnpm test`): the publishable packages as a user gets them. Every package in packages/
// without "private": true is packed with `pnpm pack` (as `pnpm publish` packs it) and the tarballs
// are installed with plain `npm` into a fresh app in the OS temp directory, outside this workspace,
// with the peer dependencies npm installs for a user (react, ai, vitest, fast-check) and
// @types/node and @types/react. Then, in that app:
//   - the installed manifests and files: LICENSE and README.md in every package, no `workspace:`
//     range and no private workspace package in dependencies or peerDependencies, no built-in
//     module imported without its `node:` prefix in dist/;
//   - the README's "Your first durable endpoint" code, with its types stripped, runs with plain
//     `node` (no source condition, the packages' dist/) and prints what the README says;
//   - `require()` of every entry point (every `exports` subpath) works (require(esm), Node 20.19+);
//   - a consumer importing every entry point, and the README's code, type-check with `moduleResolution` bundler, node16
//     and nodenext (the workspace's TypeScript, run against the app).
// Runs after `pnpm build`. Needs the npm registry the first time (npm's cache serves later runs);
// `npm install --ignore-scripts`: better-sqlite3's native addon is not built (nothing here opens a
// database; the module loads its addon only when one is opened). Exits 1 when any check fails.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import ts from "typescript";

const root = resolve(import.meta.dirname, "..");
const started = performance.now();
const failures = [];
const passed = [];

function fail(check, detail) {
  failures.push(`${check}:\n${String(detail).trim().replace(/^/gm, "     ")}`);
}

/** Runs a command, resolving with its exit code, its stdout and its combined output. */
function run(command, args, cwd, env = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1", ...env } });
    let stdout = "";
    let output = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      output += chunk;
    });
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code: code ?? 1, stdout, output }));
  });
}

if (!process.features.require_module) {
  console.log(`check:install: Node ${process.version} cannot require() ES modules; run it on Node 20.19 or newer`);
  process.exit(1);
}

const packages = readdirSync(join(root, "packages"), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => join(root, "packages", entry.name))
  .map((directory) => ({ directory, manifest: JSON.parse(readFileSync(join(directory, "package.json"), "utf8")) }))
  .filter(({ manifest }) => manifest.private !== true);
const privateNames = new Set(
  ["packages", "tools", "examples"].flatMap((folder) =>
    readdirSync(join(root, folder), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(join(root, folder, entry.name, "package.json")))
      .map((entry) => JSON.parse(readFileSync(join(root, folder, entry.name, "package.json"), "utf8")))
      .filter((manifest) => manifest.private === true)
      .map((manifest) => manifest.name),
  ),
);

/** Every entry point: `name` plus each `exports` subpath. */
const entryPoints = packages.flatMap(({ manifest }) =>
  Object.keys(manifest.exports).map((subpath) => (subpath === "." ? manifest.name : `${manifest.name}${subpath.slice(1)}`)),
);

/** The fenced block of `language` after `marker` in the README. */
function blockAfter(markdown, marker, language) {
  const start = markdown.indexOf(marker);
  if (start === -1) throw new Error(`README has no "${marker}"`);
  const fence = `\`\`\`${language}\n`;
  const open = markdown.indexOf(fence, start);
  const close = markdown.indexOf("\n```", open + fence.length);
  return markdown.slice(open + fence.length, close + 1);
}

function freePort() {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePromise(port));
    });
  });
}

const app = mkdtempSync(join(tmpdir(), "durastream-check-install-"));
try {
  // 1. Pack.
  const tarballs = join(app, "tarballs");
  const packed = await Promise.all(
    packages.map(async ({ directory, manifest }) => {
      const result = await run("pnpm", ["pack", "--json", "--pack-destination", tarballs], directory);
      if (result.code !== 0) throw new Error(`pnpm pack of ${manifest.name} failed:\n${result.output}`);
      return JSON.parse(result.stdout.slice(result.stdout.indexOf("{"))).filename;
    }),
  );

  // 2. Install with npm, as a user would, in an app of its own.
  writeFileSync(join(app, "package.json"), `${JSON.stringify({ name: "durastream-install-check", private: true, type: "module" }, null, 2)}\n`);
  const installed = await run(
    "npm",
    [
      "install",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      "--ignore-scripts",
      "--loglevel=error",
      "--update-notifier=false",
      ...packed.map((filename) => `./${relative(app, filename)}`),
      "@types/node@^20.19.0",
      "@types/react@^19.0.0",
    ],
    app,
    // npm must not see this workspace's settings.
    { npm_config_userconfig: join(app, ".npmrc"), npm_config_workspaces: "false" },
  );
  if (installed.code !== 0) throw new Error(`npm install failed:\n${installed.output}`);
  const installSeconds = ((performance.now() - started) / 1000).toFixed(1);
  const checksStarted = performance.now();

  // 3. The installed manifests and files.
  const manifestProblems = [];
  const builtins = new Set(builtinModules.filter((name) => !name.startsWith("node:") && !name.startsWith("_")));
  for (const { manifest: source } of packages) {
    const directory = join(app, "node_modules", source.name);
    const manifest = JSON.parse(readFileSync(join(directory, "package.json"), "utf8"));
    for (const file of ["LICENSE", "README.md"]) {
      if (!existsSync(join(directory, file))) manifestProblems.push(`${source.name}: no ${file} in the tarball`);
    }
    // Packing strips devDependencies (the beforePacking hook in .pnpmfile.cjs): they name private
    // workspace packages, and an installed package never needs them.
    if (manifest.devDependencies !== undefined) manifestProblems.push(`${source.name}: the packed manifest has devDependencies`);
    for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
      for (const [name, range] of Object.entries(manifest[field] ?? {})) {
        const problem = range.startsWith("workspace:")
          ? `${field}.${name} is "${range}"`
          : privateNames.has(name)
            ? `${field} lists the private package ${name}`
            : undefined;
        if (problem !== undefined) manifestProblems.push(`${source.name}: ${problem}`);
      }
    }
    for (const field of ["repository", "homepage", "bugs", "license"]) {
      if (manifest[field] === undefined) manifestProblems.push(`${source.name}: no "${field}"`);
    }
    const files = readdirSync(join(directory, "dist"), { recursive: true }).filter((file) => file.endsWith(".js"));
    for (const file of files) {
      const code = readFileSync(join(directory, "dist", file), "utf8");
      for (const [, specifier] of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)"([^"]+)"/g)) {
        const bare = specifier.split("/")[0];
        if (builtins.has(bare)) manifestProblems.push(`${source.name}: dist/${file} imports "${specifier}" without "node:"`);
      }
    }
  }
  if (manifestProblems.length > 0) fail("installed manifests and files", manifestProblems.join("\n"));
  else passed.push("manifests: LICENSE, README.md, repository/homepage/bugs, no workspace or private deps, node: prefixes");

  // 4. The README's first durable endpoint, with plain node; 5. require() of every entry point;
  // 6. type checks. All at once.
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const port = await freePort();
  const quickstart = ts
    .transpileModule(blockAfter(readme, "Save this as `quickstart.ts`", "ts"), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
    })
    .outputText.replaceAll("listen(3000", `listen(${port}`)
    .replaceAll("localhost:3000", `localhost:${port}`);
  writeFileSync(join(app, "quickstart.mjs"), quickstart);
  writeFileSync(join(app, "quickstart.ts"), blockAfter(readme, "Save this as `quickstart.ts`", "ts"));
  const expected = blockAfter(readme, "It prints:", "text");

  writeFileSync(
    join(app, "require-all.cjs"),
    [
      `const entryPoints = ${JSON.stringify(entryPoints)};`,
      "const empty = [];",
      "for (const entry of entryPoints) {",
      "  const loaded = require(entry);",
      '  if (loaded === null || typeof loaded !== "object" || Object.keys(loaded).length === 0) empty.push(entry);',
      "}",
      'if (empty.length > 0) throw new Error("require() gave nothing for " + empty.join(", "));',
      'console.log(typeof require("@durastream/server").createDurable, typeof require("@durastream/client").fetchWithStream);',
      "",
    ].join("\n"),
  );

  const imports = entryPoints.filter((entry) => !entry.endsWith(".json"));
  const jsonEntries = entryPoints.filter((entry) => entry.endsWith(".json"));
  const consumer = (withAttributes) =>
    [
      "// Imports every entry point of every published package, as a consumer's code does.",
      ...imports.map((entry, index) => `import * as entry${index} from "${entry}";`),
      ...jsonEntries.map((entry, index) => `import json${index} from "${entry}"${withAttributes ? ' with { type: "json" }' : ""};`),
      `export const entries: unknown[] = [${[...imports.map((_, index) => `entry${index}`), ...jsonEntries.map((_, index) => `json${index}`)].join(", ")}];`,
      "",
    ].join("\n");
  writeFileSync(join(app, "consumer-attributes.ts"), consumer(true));
  writeFileSync(join(app, "consumer-plain.ts"), consumer(false));
  const compilerOptions = {
    strict: true,
    noEmit: true,
    target: "es2022",
    resolveJsonModule: true,
    types: ["node", "react"],
    // The AI SDK's types (and @durastream/ai/client's) use fetch types only the DOM library has.
    lib: ["es2022", "dom"],
  };
  // node16 cannot parse import attributes (TypeScript 5.9 allows them from node18 on); nodenext
  // and bundler with module esnext require or allow them for JSON. nodenext checks the declaration
  // files too (skipLibCheck off), which takes ~20 s more; only errors in Durastream's own .d.ts
  // files count there: some dependencies' types do not check on their own (@ai-sdk/provider
  // imports types of json-schema, ioredis of redis-errors, without depending on @types for them).
  const modes = {
    bundler: { module: "esnext", moduleResolution: "bundler", skipLibCheck: true, file: "consumer-attributes.ts" },
    node16: { module: "node16", moduleResolution: "node16", skipLibCheck: true, file: "consumer-plain.ts" },
    nodenext: { module: "nodenext", moduleResolution: "nodenext", file: "consumer-attributes.ts" },
  };
  for (const [mode, { file, ...options }] of Object.entries(modes)) {
    writeFileSync(
      join(app, `tsconfig.${mode}.json`),
      `${JSON.stringify({ compilerOptions: { ...compilerOptions, ...options }, files: [file, "quickstart.ts"] }, null, 2)}\n`,
    );
  }
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

  const [quickstartRun, requireRun, ...typeChecks] = await Promise.all([
    run("node", ["quickstart.mjs"], app),
    run("node", ["require-all.cjs"], app),
    ...Object.keys(modes).map((mode) => run("node", [tsc, "-p", `tsconfig.${mode}.json`], app)),
  ]);
  if (quickstartRun.code !== 0 || quickstartRun.stdout !== expected) {
    fail("README quick start with plain node", `exit code ${quickstartRun.code}; expected:\n${expected}got:\n${quickstartRun.output}`);
  } else passed.push("the README's first durable endpoint runs with plain node and prints what the README says");
  if (requireRun.code !== 0) fail("require() of every entry point", requireRun.output);
  else passed.push(`require() of all ${entryPoints.length} entry points`);
  Object.keys(modes).forEach((mode, index) => {
    const { code, output } = typeChecks[index];
    // An error's first line starts with its file; the lines after it are indented.
    const errors = output
      .split(/\n(?=\S)/)
      .filter((error) => error.trim() !== "")
      .filter((error) => !error.startsWith("node_modules/") || error.startsWith("node_modules/@durastream/"));
    if (errors.length > 0 || (code !== 0 && !/error TS/.test(output))) {
      fail(`type check, moduleResolution ${mode}`, errors.length > 0 ? errors.join("\n") : output);
    } else {
      passed.push(
        `type check of every entry point and the README's code, moduleResolution ${mode}${modes[mode].skipLibCheck ? "" : " (and the packages' .d.ts files)"}`,
      );
    }
  });

  for (const line of passed) console.log(`ok   ${line}`);
  for (const failure of failures) console.log(`FAIL ${failure}`);
  console.log(
    `check:install: ${packages.length} packages packed and installed with npm in ${installSeconds} s; ${passed.length} of ${passed.length + failures.length} checks pass in ${((performance.now() - checksStarted) / 1000).toFixed(1)} s`,
  );
  process.exitCode = failures.length > 0 ? 1 : 0;
} finally {
  if (process.env.CHECK_INSTALL_KEEP) console.log(`check:install: the app is kept in ${app}`);
  else rmSync(app, { recursive: true, force: true });
}
