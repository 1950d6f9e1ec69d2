// The runtime matrix: each runtime serves the scenario natively (Node's `http` through
// `@durastream/server/node`, `Bun.serve`, `Deno.serve`) and runs its client (`fetchWithStream`,
// `resumeStream`) against it. workerd is in workerd.test.ts.
import { beforeAll, describe, expect, it } from "vitest";
import { expectedReport } from "./scenario/client.js";
import { type Bundles, buildBundles } from "./support/bundle.js";
import { runToEnd, startServer } from "./support/processes.js";
import { type InstalledRuntime, RUNTIME_VERSIONS, RUNTIMES_REQUIRED, installRuntime, skipHint } from "./support/runtimes.js";

interface Row {
  readonly name: string;
  readonly install: () => Promise<InstalledRuntime>;
  /** What the scenario's handler reports as its runtime. */
  readonly label: (runtime: InstalledRuntime) => string;
  readonly server: (bundles: Bundles) => string[];
  readonly client: (bundles: Bundles, origin: string) => string[];
}

const nodeRow = (name: string, install: () => Promise<InstalledRuntime>): Row => ({
  name,
  install,
  label: ({ version }) => `node v${version.replace(/^v/, "")}`,
  server: (bundles) => [bundles.nodeServer],
  client: (bundles, origin) => [bundles.client, origin],
});

const rows: Row[] = [
  nodeRow(`Node ${process.versions.node} (the Node running the tests)`, async () => ({ binary: process.execPath, version: process.versions.node })),
  nodeRow(`Node ${RUNTIME_VERSIONS.node22}`, () => installRuntime("node", RUNTIME_VERSIONS.node22)),
  nodeRow(`Node ${RUNTIME_VERSIONS.node24}`, () => installRuntime("node", RUNTIME_VERSIONS.node24)),
  {
    name: `Bun ${RUNTIME_VERSIONS.bun}`,
    install: () => installRuntime("bun", RUNTIME_VERSIONS.bun),
    label: ({ version }) => `bun ${version}`,
    server: (bundles) => [bundles.bunServer],
    client: (bundles, origin) => [bundles.client, origin],
  },
  {
    name: `Deno ${RUNTIME_VERSIONS.deno}`,
    install: () => installRuntime("deno", RUNTIME_VERSIONS.deno),
    label: ({ version }) => `deno ${version}`,
    // DURASTREAM_SECRET is read from the environment, so the server needs --allow-env for it.
    server: (bundles) => ["run", "--allow-net=127.0.0.1", "--allow-env=DURASTREAM_SECRET,NODE_ENV", bundles.denoServer],
    client: (bundles, origin) => ["run", "--allow-net=127.0.0.1", bundles.client, origin],
  },
];

let bundles: Bundles;
/** Every runtime installs at once, in the background; each row waits for its own. */
const installs = new Map<string, Promise<InstalledRuntime>>();

beforeAll(async () => {
  for (const row of rows) {
    const installing = row.install();
    installing.catch(() => {}); // handled by the row's test
    installs.set(row.name, installing);
  }
  bundles = await buildBundles();
}, 60_000);

/** The row's runtime, or undefined (after skipping the test with a hint) when it is missing off CI. */
async function runtimeOf(row: Row, skip: (note: string) => void): Promise<InstalledRuntime | undefined> {
  try {
    return await installs.get(row.name)!;
  } catch (error) {
    if (RUNTIMES_REQUIRED) throw error;
    skip(skipHint(row.name, error));
    return undefined;
  }
}

describe("the scenario in each runtime", () => {
  for (const row of rows) {
    it(`${row.name}: serves two steps, a pipe, a push, a retried step, a POST body and a resume, and its own client reads them`, async (context) => {
      const runtime = await runtimeOf(row, (note) => context.skip(note));
      if (runtime === undefined) return;
      const server = await startServer(runtime.binary, row.server(bundles));
      try {
        const client = await runToEnd(runtime.binary, row.client(bundles, server.origin));
        expect(client.code, `client stderr:\n${client.stderr}\nserver stderr:\n${server.stderr()}`).toBe(0);
        expect(JSON.parse(client.stdout)).toEqual(expectedReport(row.label(runtime)));
      } finally {
        await server.stop();
      }
    }, 300_000);
  }
});

describe("known runtime problems answer with a clear error", () => {
  const bun = rows.at(-2)!;
  const deno = rows.at(-1)!;

  it("Bun with a catch-all Bun.serve({ fetch: endpoint }): the resume GET starts no second run and says to mount the wait endpoint", async (context) => {
    const runtime = await runtimeOf(bun, (note) => context.skip(note));
    if (runtime === undefined) return;
    const server = await startServer(runtime.binary, [bundles.bunCatchAll]);
    try {
      const first = await fetch(`${server.origin}/chat`, { method: "POST", headers: { accept: "text/event-stream" } });
      const resumeUrl = /"resumeUrl":"([^"]+)"/.exec(await first.text())?.[1];
      expect(resumeUrl).toMatch(/\/api\/durable\/[^?]+\?token=/);
      const resume = await fetch(resumeUrl!, { headers: { accept: "text/event-stream" } });
      expect(resume.status).toBe(500);
      expect(resume.headers.get("x-durastream-error")).toBe("WAIT_ENDPOINT_NOT_MOUNTED");
      expect(await resume.text()).toContain(
        "reached durable.endpoint(), which would start another run. Serve /api/durable/<runId> with durable.waitEndpoint()",
      );
      // The next real request is the second run: the resume request started none.
      expect(await (await fetch(`${server.origin}/chat`, { method: "POST" })).json()).toEqual({ runs: 2 });
    } finally {
      await server.stop();
    }
  }, 300_000);

  it("Deno without --allow-env and without a secret: createDurable says to pass { secret } or --allow-env", async (context) => {
    const runtime = await runtimeOf(deno, (note) => context.skip(note));
    if (runtime === undefined) return;
    const result = await runToEnd(runtime.binary, ["run", "--allow-net=127.0.0.1", bundles.denoServer]);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe(""); // it never listened
    expect(result.stderr).toContain(
      'DURASTREAM_SECRET cannot be read from the environment (Requires env access to "DURASTREAM_SECRET", run again with the --allow-env flag). Pass { secret } to createDurable, or allow reading the environment (Deno: --allow-env=DURASTREAM_SECRET,NODE_ENV).',
    );
  }, 300_000);
});
