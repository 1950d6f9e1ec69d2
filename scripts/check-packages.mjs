// `pnpm check:packages`: lints what would be published, for every publishable package in packages/
// (those without "private": true). Each package is packed with `pnpm pack` — as `pnpm publish`
// packs it, `workspace:` ranges replaced by versions — and the tarball is checked by
//   publint --strict                      (package.json exports/files/types against the packed files)
//   attw --profile esm-only               (the types resolve for node16 ESM and bundler consumers)
// Runs after `pnpm build` (the tarballs hold dist/). Offline; exits 1 when any check fails.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const bin = (name) => join(root, "node_modules", ".bin", name);

/** Runs a command, resolving with its exit code and its combined output. */
function run(command, args, cwd) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" } });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code: code ?? 1, output }));
  });
}

const packages = readdirSync(join(root, "packages"), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => join(root, "packages", entry.name))
  .map((directory) => ({ directory, manifest: JSON.parse(readFileSync(join(directory, "package.json"), "utf8")) }))
  .filter(({ manifest }) => manifest.private !== true);

const destination = mkdtempSync(join(tmpdir(), "durastream-check-packages-"));

async function check({ directory, manifest }) {
  const packed = await run("pnpm", ["pack", "--json", "--pack-destination", destination], directory);
  if (packed.code !== 0) return { name: manifest.name, failures: [`pnpm pack failed:\n${packed.output}`] };
  const { filename } = JSON.parse(packed.output.slice(packed.output.indexOf("{")));
  const [publint, attw] = await Promise.all([
    run(bin("publint"), ["run", filename, "--strict"], directory),
    run(bin("attw"), [filename, "--profile", "esm-only", "--format", "ascii", "--no-emoji"], directory),
  ]);
  const failures = [];
  if (publint.code !== 0) failures.push(`publint:\n${publint.output.trim()}`);
  if (attw.code !== 0) failures.push(`attw:\n${attw.output.trim()}`);
  return { name: manifest.name, failures };
}

const started = performance.now();
let results;
try {
  // Four at a time: each check spawns pnpm, publint and attw (a TypeScript program per entry point);
  // on 2 cores that takes ~24 s for the 8 packages, against ~34 s two at a time.
  results = [];
  for (let index = 0; index < packages.length; index += 4) {
    results.push(...(await Promise.all(packages.slice(index, index + 4).map(check))));
  }
} finally {
  rmSync(destination, { recursive: true, force: true });
}

for (const { name, failures } of results) {
  console.log(`${failures.length === 0 ? "ok  " : "FAIL"} ${name}`);
  for (const failure of failures) console.log(failure.replace(/^/gm, "     "));
}
const failed = results.filter(({ failures }) => failures.length > 0).length;
console.log(
  `check:packages: ${results.length - failed} of ${results.length} packages pass publint and attw (${((performance.now() - started) / 1000).toFixed(1)} s)`,
);
process.exitCode = failed > 0 ? 1 : 0;
