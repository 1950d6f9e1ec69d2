// The runtimes of the matrix. Node 20 is the one running the tests; Node 22 and 24, Bun and Deno
// come from the npm registry (`npm install node@22`, `bun`, `deno`: each package fetches its
// binary from the registry too), installed once into a cache directory keyed by the exact version.
import { execFile } from "node:child_process";
import { access, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The exact versions tested; bump them here (a new version installs into a new cache directory). */
export const RUNTIME_VERSIONS = { node22: "22.23.3", node24: "24.21.0", bun: "1.4.5", deno: "2.9.6" } as const;

/** Where runtimes are installed: `DURASTREAM_RUNTIME_CACHE`, else this package's `node_modules/.cache`. */
const RUNTIME_CACHE = process.env.DURASTREAM_RUNTIME_CACHE ?? fileURLToPath(new URL("../node_modules/.cache/durastream-runtimes/", import.meta.url));

export interface InstalledRuntime {
  /** The binary to run. */
  readonly binary: string;
  readonly version: string;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * Installs `pkg@version` from the npm registry into the cache (once; later calls find it there)
 * and resolves with its binary. Rejects when it cannot be installed.
 */
export async function installRuntime(pkg: "node" | "bun" | "deno", version: string, binaryName: string = pkg): Promise<InstalledRuntime> {
  const dir = join(RUNTIME_CACHE, `${pkg}@${version}`);
  const binary = join(dir, "node_modules", ".bin", binaryName);
  if (!(await exists(binary))) {
    // Installed next to the cache entry and moved into place, so a run that stops half-way (or
    // another test process installing the same version) never leaves a broken entry.
    const staging = `${dir}.staging-${process.pid}-${Date.now()}`;
    await mkdir(staging, { recursive: true });
    try {
      await writeFile(join(staging, "package.json"), '{ "private": true }\n');
      await run("npm", ["install", "--no-audit", "--no-fund", "--no-save", "--prefix", staging, `${pkg}@${version}`], {
        cwd: staging,
        timeout: 240_000,
        env: { ...process.env, npm_config_loglevel: "error" },
      });
      await rename(staging, dir).catch(async (error: unknown) => {
        if (!(await exists(binary))) throw error; // another process moved its copy into place first
      });
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  const { stdout } = await run(binary, ["--version"], { timeout: 60_000 });
  const printed = stdout.trim().split("\n")[0] ?? "";
  if (!printed.includes(version)) throw new Error(`${binary} --version printed ${JSON.stringify(printed)}, expected ${version}`);
  return { binary, version };
}

/** In CI a runtime that cannot be installed fails the matrix; elsewhere its row is skipped. */
export const RUNTIMES_REQUIRED = process.env.CI === "true" || process.env.CI === "1";

export function skipHint(name: string, error: unknown): string {
  const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
  return `${name} could not be installed from the npm registry (${reason}); its row is skipped here and fails in CI (CI=true). Check that npm can reach the registry, or set DURASTREAM_RUNTIME_CACHE to a directory with the runtimes installed.`;
}
