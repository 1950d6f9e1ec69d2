// Bundles the scenario's entries with esbuild, from the packages' TypeScript sources (the
// `@durastream/source` condition, as every test of the repository runs them): no `pnpm build` is
// needed, and the bundle is what each runtime runs, with nothing to resolve at run time but the
// runtime's own modules (`node:*`, `cloudflare:*`).
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const entry = (name: string) => fileURLToPath(new URL(`../entries/${name}.ts`, import.meta.url));

export interface Bundles {
  /** The scenario server for Node's `http` (Node 20, 22, 24). */
  readonly nodeServer: string;
  readonly bunServer: string;
  /** Bun with a catch-all `Bun.serve({ fetch: endpoint })`, no wait endpoint. */
  readonly bunCatchAll: string;
  readonly denoServer: string;
  /** The client scenario as a program (Node, Bun, Deno). */
  readonly client: string;
  /** The scenario as a module worker, and the client scenario as another (workerd). */
  readonly worker: string;
  readonly clientWorker: string;
}

/** Builds every bundle into a fresh temporary directory. */
export async function buildBundles(): Promise<Bundles> {
  const outdir = await mkdtemp(join(tmpdir(), "durastream-runtime-tests-"));
  const common = { bundle: true, format: "esm", target: "es2022", outdir, outExtension: { ".js": ".mjs" }, logLevel: "error" } as const;
  await Promise.all([
    esbuild.build({
      ...common,
      entryPoints: {
        "node-server": entry("node-server"),
        "bun-server": entry("bun-server"),
        "bun-catch-all": entry("bun-catch-all"),
        "deno-server": entry("deno-server"),
        client: entry("client-main"),
      },
      platform: "node",
      conditions: ["@durastream/source"],
      external: ["node:*"],
    }),
    esbuild.build({
      ...common,
      entryPoints: { worker: entry("worker"), "client-worker": entry("client-worker") },
      platform: "browser",
      conditions: ["workerd", "worker", "@durastream/source"],
      external: ["node:*", "cloudflare:*"],
    }),
  ]);
  const file = (name: string) => join(outdir, `${name}.mjs`);
  return {
    nodeServer: file("node-server"),
    bunServer: file("bun-server"),
    bunCatchAll: file("bun-catch-all"),
    denoServer: file("deno-server"),
    client: file("client"),
    worker: file("worker"),
    clientWorker: file("client-worker"),
  };
}
