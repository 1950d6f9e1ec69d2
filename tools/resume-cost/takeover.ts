// Issue 12, "Resume cost": how long a takeover of a run with a 200k-frame log takes, until the
// handler is called again (claim, journal, the scan for interrupted steps, rollback frames).
//
//   node --conditions=@durastream/source --import tsx tools/resume-cost/takeover.ts <redis|sqlite> <suspended|crashed> [frames]
//
// suspended: 200 committed steps of 1,000 chunks each, then the run suspended (a sleep that is due):
//            a resume, as after `durable.send`.
// crashed:   the same log; the run was resumed (epoch 2), its last step streamed 1,000 chunks and
//            its process died (lease expired): a takeover.
// crashed-first: one execution streamed the whole log (its last step 1,000 chunks) and died: the
//            takeover must read all of it (it is all the interrupted execution's).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeFramePayload, hashStepId } from "@durastream/protocol";
import { createDataPayloadEncoder } from "@durastream/protocol/internal";
import { createDurable, type RunStore } from "@durastream/server";
import { RedisRunStore } from "@durastream/redis";
import { SqliteRunStore } from "@durastream/sqlite";
import { startScratchRedis } from "./redis-server.js";

const [kind = "redis", scenario = "suspended", framesArgument = "200000"] = process.argv.slice(2);
const totalFrames = Number(framesArgument);
const PER_STEP = 1_000;
const steps = totalFrames / PER_STEP;

let cleanup: () => Promise<void>;
let store: RunStore;
if (kind === "redis") {
  const redis = await startScratchRedis();
  store = new RedisRunStore({ url: redis.url, prefix: "measure:" });
  cleanup = () => redis.close();
} else {
  const directory = mkdtempSync(join(tmpdir(), "durastream-measure-"));
  store = new SqliteRunStore({ path: join(directory, "runs.db") });
  cleanup = async () => rmSync(directory, { recursive: true, force: true });
}

const endpointId = "measure-takeover";
const runId = "run-takeover";
const now = Date.now();
await store.createRun({
  runId,
  endpointId,
  createdAt: now,
  owner: "first-process",
  leaseExpiresAt: scenario === "crashed-first" ? now - 1 : now + 3_600_000,
  request: { method: "POST", url: "http://localhost/x", headers: [], body: null, bodyEncoding: "text" },
});

async function writeStep(epoch: number, index: number, commit: boolean): Promise<void> {
  const hashedStepId = await hashStepId(`s${index}`, 0);
  const base = { hashedStepId, stepId: `s${index}`, position: index, kind: "run" as const };
  await store.appendFrames(runId, epoch, [], { step: { ...base, status: "running", attempts: 1, retries: 3 } });
  const encode = createDataPayloadEncoder(hashedStepId);
  const frames = Array.from({ length: PER_STEP }, (_, chunk) => ({
    type: "data" as const,
    payload: encode(JSON.stringify(`chunk ${chunk} of step ${index}`)),
  }));
  await store.appendFrames(runId, epoch, frames);
  if (commit) {
    await store.appendFrames(runId, epoch, [{ type: "commit", payload: encodeFramePayload({ type: "commit", hashedStepId }) }], {
      step: { ...base, status: "succeeded", attempts: 1, output: "1" },
    });
  }
}

const built = performance.now();
const committedSteps = scenario === "suspended" ? steps : steps - 1;
for (let index = 0; index < committedSteps; index += 1) await writeStep(1, index, true);
if (scenario === "crashed-first") await writeStep(1, steps - 1, false);
const sleepId = await hashStepId("wait", 0);
if (scenario !== "crashed-first")
  await store.appendFrames(runId, 1, [], {
    step: { hashedStepId: sleepId, stepId: "wait", position: committedSteps, kind: "sleep", status: "sleeping", attempts: 0, wakeAt: now },
    suspend: { wakeAt: now },
  });
if (scenario === "crashed") {
  // Resumed by a process that streamed the last step and died: its lease has expired.
  const claimed = await store.claimRun(runId, "dead-process", Date.now() - 1, Date.now());
  if (claimed === undefined) throw new Error("claim failed");
  await writeStep(claimed.epoch, steps - 1, false);
}
console.error(`built ${totalFrames} frames in ${Math.round(performance.now() - built)} ms`);

let framesRead = 0;
let reads = 0;
const readFrames = store.readFrames.bind(store);
store.readFrames = async (...args) => {
  const entries = await readFrames(...args);
  reads += 1;
  framesRead += entries.length;
  return entries;
};

const durable = createDurable({ store, pollInterval: 60_000 });
let started = 0;
const called = new Promise<number>((resolve) => {
  started = performance.now();
  durable.endpoint(
    async () => {
      resolve(performance.now());
      return new Response("done");
    },
    { id: endpointId },
  );
});
const at = await called;
console.log(
  JSON.stringify({
    store: kind,
    scenario,
    frames: totalFrames,
    takeoverMs: Math.round((at - started) * 10) / 10,
    framesScanned: framesRead,
    readFramesCalls: reads,
  }),
);
await durable.close({ timeout: 1_000 });
await cleanup();
