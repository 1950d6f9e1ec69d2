// What one scheduler poll costs Redis with many due runs (issue 12). Seeds N due runs (default
// 100,000: four in five suspended past their wake time, one in five running with an expired lease,
// as the store's scripts leave them) under a fresh key prefix of the Redis at REDIS_URL (default
// redis://127.0.0.1:6379), then times, median of the rounds (wall clock over loopback, Redis
// busy for most of it):
// - before: the listResumableRuns script up to 0.x (kept below for reference): it read both sorted
//   sets whole and every run's hash, on every poll of every instance; plus its sort in JavaScript;
// - after: `RedisRunStore.listResumableRuns(now, 100)` from the start, and after a cursor half-way
//   (an executor's round); with the executor's second page (newly due runs), a poll reads two.
// Also prints the time Redis itself spent in the scripts per poll (INFO commandstats: exact on a
// Redis nobody else uses meanwhile, e.g. `redis-server --port 6390 --save "" --appendonly no` and
// REDIS_URL=redis://127.0.0.1:6390). The keys are deleted at the end.
//
// node --conditions=@durastream/source --import tsx bench/resumable-poll.ts [runs, default 100000] [rounds, default 5]
import { performance } from "node:perf_hooks";
import { RedisRunStore } from "@durastream/redis";
import { createClient } from "redis";

const BEFORE = `
local prefix, now = ARGV[1], ARGV[2]
local found = {}
local function add(run_id, status)
  local state = redis.call('HMGET', prefix .. 'run:' .. run_id, 'status', 'createdAt', 'endpointId')
  if state[1] == status then
    found[#found + 1] = run_id
    found[#found + 1] = state[2]
    found[#found + 1] = state[3]
  end
end
for _, run_id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do add(run_id, 'suspended') end
for _, run_id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)) do add(run_id, 'running') end
return found
`;

const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const count = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 5);
const prefix = `durastream-bench:resumable-poll:${process.pid}-${Date.now().toString(36)}:`;
const now = Date.now();

const admin = createClient({ url });
await admin.connect();
const store = new RedisRunStore({ url, prefix });

async function seed(): Promise<void> {
  for (let start = 0; start < count; start += 10_000) {
    const pipeline = admin.multi();
    for (let index = start; index < Math.min(count, start + 10_000); index += 1) {
      const runId = `run-${String(index).padStart(7, "0")}`;
      const running = index % 5 === 0;
      const dueAt = now - 3_600_000 + index;
      pipeline.hSet(`${prefix}run:${runId}`, {
        runId,
        endpointId: index % 2 === 0 ? "removed" : "chat",
        status: running ? "running" : "suspended",
        epoch: "1",
        createdAt: String(dueAt - 1_000),
        updatedAt: String(dueAt - 1_000),
        ...(running ? { owner: "gone", leaseExpiresAt: String(dueAt) } : { wakeAt: String(dueAt), leaseExpiresAt: "0" }),
      });
      pipeline.zAdd(running ? `${prefix}leases` : `${prefix}due`, { score: dueAt, value: runId });
    }
    await pipeline.execAsPipeline();
  }
}

/** Microseconds Redis spent in scripts (EVAL and EVALSHA) so far, by INFO commandstats. */
async function scriptMicroseconds(): Promise<number> {
  const info = await admin.info("commandstats");
  let total = 0;
  for (const match of info.matchAll(/^cmdstat_(?:eval|evalsha):calls=\d+,usec=(\d+)/gm)) total += Number(match[1]);
  return total;
}

const format = (milliseconds: number) => (milliseconds < 10 ? milliseconds.toFixed(2) : milliseconds.toFixed(0));

/**
 * Times `call`: the median wall clock of the rounds, and the mean time Redis spent running scripts
 * per round (only meaningful on a Redis nobody else uses meanwhile).
 */
async function median(label: string, call: () => Promise<unknown>): Promise<number> {
  await call(); // warm-up (loads the script)
  const times: number[] = [];
  const before = await scriptMicroseconds();
  for (let round = 0; round < rounds; round += 1) {
    const started = performance.now();
    await call();
    times.push(performance.now() - started);
  }
  const inRedis = (await scriptMicroseconds()) - before;
  times.sort((a, b) => a - b);
  const middle = times[Math.floor(times.length / 2)]!;
  console.log(`${label.padEnd(56)} ${format(middle).padStart(7)} ms wall, ${format(inRedis / rounds / 1000).padStart(7)} ms in Redis`);
  return middle;
}

async function deleteAll(): Promise<void> {
  for await (const keys of admin.scanIterator({ MATCH: `${prefix}*`, COUNT: 10_000 })) {
    if (keys.length > 0) await admin.unlink(keys);
  }
}

try {
  console.log(`Redis ${url}: ${count.toLocaleString("en")} due runs (${(count / 5).toLocaleString("en")} with expired leases), median of ${rounds} rounds`);
  await seed();
  await median("before: old script (every due run) + sort, per poll", async () => {
    const found = (await admin.eval(BEFORE, { keys: [`${prefix}due`, `${prefix}leases`], arguments: [prefix, String(now)] })) as string[];
    const runs: { runId: string; createdAt: number }[] = [];
    for (let index = 0; index + 2 < found.length; index += 3) runs.push({ runId: found[index]!, createdAt: Number(found[index + 1]) });
    runs.sort((a, b) => a.createdAt - b.createdAt);
    return runs.slice(0, 100);
  });
  const first = await store.listResumableRuns(now, 100);
  if (first.length !== 100) throw new Error(`expected a page of 100, got ${first.length}`);
  await median("after: listResumableRuns(now, 100), first page", () => store.listResumableRuns(now, 100));
  const middle = { dueAt: now - 3_600_000 + Math.floor(count / 2), runId: `run-${String(Math.floor(count / 2)).padStart(7, "0")}` };
  await median("after: listResumableRuns(now, 100, cursor half-way)", () => store.listResumableRuns(now, 100, middle));
  await median("after: a poll's two pages (round + newly due)", () =>
    Promise.all([store.listResumableRuns(now, 100, middle), store.listResumableRuns(now, 100, { dueAt: now - 60_000, runId: "" })]),
  );
} finally {
  await deleteAll();
  await store.close();
  admin.destroy();
}
