// Cloudflare Workers: the scenario as a module worker in workerd (through Miniflare), with
// `createDurable()` at module scope, the `nodejs_compat` flag and `waitUntil` from
// `cloudflare:workers`. Every run below is served by one isolate.
import { fetchWithStream } from "@durastream/client";
import type { Readable } from "node:stream";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScenarioResult } from "./scenario/app.js";
import { expectedReport, runClientScenario } from "./scenario/client.js";
import { buildBundles } from "./support/bundle.js";

const worker = { modules: true, compatibilityDate: "2025-09-01", compatibilityFlags: ["nodejs_compat"] } as const;

let miniflare: Miniflare;
let origin: string;
let isolate: string;
/** What workerd printed (the workers' console, its warnings). */
let output = "";

beforeAll(async () => {
  const bundles = await buildBundles();
  const modulesRoot = bundles.worker.slice(0, bundles.worker.lastIndexOf("/"));
  miniflare = new Miniflare({
    workers: [
      { ...worker, name: "scenario", modulesRoot, scriptPath: bundles.worker, bindings: { DURASTREAM_SECRET: "runtime-tests-secret-not-for-production" } },
      // The client scenario in workerd, reaching the scenario worker through a service binding.
      { ...worker, name: "client", modulesRoot, scriptPath: bundles.clientWorker, serviceBindings: { SERVER: "scenario" } },
    ],
    handleRuntimeStdio(stdout: Readable, stderr: Readable) {
      for (const stream of [stdout, stderr]) stream.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    },
  });
  origin = String(await miniflare.ready).replace(/\/$/, "");
  isolate = await (await fetch(`${origin}/isolate`)).text();
}, 120_000);

afterAll(async () => {
  await miniflare?.dispose();
});

/** One run of the scenario without a gate, read by Node's fetchWithStream. */
async function poem(topic: string): Promise<{ committed: string; rollbacks: string[]; status: number; body: ScenarioResult }> {
  let committed = "";
  const pending = new Map<string | null, string>();
  const rollbacks: string[] = [];
  const response = await fetchWithStream(`${origin}/poem`, {
    fetchOpts: { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ topic }) },
    onData: ({ data, hashedStepId }) => pending.set(hashedStepId, (pending.get(hashedStepId) ?? "") + String(data)),
    onCommit: ({ hashedStepId }) => {
      committed += pending.get(hashedStepId) ?? "";
      pending.delete(hashedStepId);
    },
    onRollback: ({ hashedStepId, attempt, error }) => {
      rollbacks.push(`attempt ${attempt}: ${error.message}`);
      pending.delete(hashedStepId);
    },
  });
  return { committed, rollbacks, status: response.status, body: (await response.json()) as ScenarioResult };
}

const expectedPoem = (topic: string) => ({
  committed: `On ${topic}(draft 2) every token once.`,
  rollbacks: ["attempt 1: the model timed out"],
  status: 201,
  body: { title: `On ${topic}`, line: "every token once.", after: null, runtime: "workerd" },
});

describe("Cloudflare Workers (workerd, one isolate)", () => {
  it("starts with createDurable() at module scope: no error about random values or timers in global scope", () => {
    expect(output).not.toMatch(/Disallowed operation|global scope|poll error/);
  });

  it("serves three runs one after another, each with a step failing once and retried", async () => {
    for (const topic of ["first", "second", "third"]) expect(await poem(topic)).toEqual(expectedPoem(topic));
  }, 30_000);

  it("serves three runs at once", async () => {
    const topics = ["one", "two", "three", "four"];
    expect(await Promise.all(topics.map(poem))).toEqual(topics.map(expectedPoem));
  }, 30_000);

  it("keeps a run going after its client disconnects (waitUntil) and resumes it through the wait endpoint (Node's client)", async () => {
    expect(await runClientScenario(origin)).toEqual(expectedReport("workerd"));
  }, 30_000);

  it("runs the client (fetchWithStream, resumeStream) in workerd too", async () => {
    // Miniflare's types for the worker's fetch need @cloudflare/workers-types; it answers a Response.
    const client = (await miniflare.getWorker("client")) as unknown as { fetch: (url: string) => Promise<Response> };
    const response = await client.fetch("http://client.test/?origin=http://scenario.test");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(expectedReport("workerd"));
  }, 30_000);

  it("served every run from the same isolate", async () => {
    expect(await (await fetch(`${origin}/isolate`)).text()).toBe(isolate);
  });
});
