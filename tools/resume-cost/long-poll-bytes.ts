// Issue 12, "Resume cost": bytes Redis sends while long-polls wait on a run with a 1 MB request
// body that appends 1,000 frames one by one.
//
//   node --conditions=@durastream/source --import tsx tools/resume-cost/long-poll-bytes.ts [pollers] [frames]
//
// Prints Redis's `total_net_output_bytes` over the run with `pollers` long-polls waiting, and with
// none (the run's own writes and reads), on a private redis-server; the difference is the long-polls'.
import { createDurable, stream } from "@durastream/server";
import { RedisRunStore } from "@durastream/redis";
import { startScratchRedis } from "./redis-server.js";

const pollers = Number(process.argv[2] ?? "5");
const frames = Number(process.argv[3] ?? "1000");
const BODY = "x".repeat(1_000_000);

async function measure(pollerCount: number): Promise<{ bytes: number; ms: number; statuses: number[] }> {
  const redis = await startScratchRedis();
  const store = new RedisRunStore({ url: redis.url, prefix: "measure:" });
  const durable = createDurable({ store, secret: "measure-secret-measure-secret" });
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let ended!: () => void;
  const end = new Promise<void>((resolve) => (ended = resolve));
  const post = durable.endpoint(
    async (request) => {
      await request.text();
      await gate;
      for (let index = 0; index < frames; index += 1) {
        stream.push(index);
        await new Promise((resolve) => setTimeout(resolve, 1)); // one append per frame
      }
      ended();
      return new Response("done");
    },
    { id: "measure-long-poll" },
  );
  const waitEndpoint = durable.waitEndpoint({ waitTimeout: 120_000 });
  const response = await post(
    new Request("http://localhost/api/measure", { method: "POST", body: BODY, headers: { accept: "text/event-stream", "content-type": "text/plain" } }),
  );
  // The metadata frame carries the resume URL; then stop reading this connection.
  const reader = response.body!.getReader();
  let text = "";
  while (!text.includes("resumeUrl")) text += new TextDecoder().decode((await reader.read()).value);
  await reader.cancel();
  const resumeUrl = /"resumeUrl":"([^"]+)"/.exec(text)![1]!;
  await new Promise((resolve) => setTimeout(resolve, 200));
  const before = await redis.outputBytes();
  const started = performance.now();
  const polls = Array.from({ length: pollerCount }, () => waitEndpoint(new Request(resumeUrl)));
  await new Promise((resolve) => setTimeout(resolve, 200)); // the long-polls are waiting
  open();
  const answers = await Promise.all(polls);
  const statuses = answers.map((answer) => answer.status);
  await Promise.all(answers.map((answer) => answer.text()));
  // Without pollers: until the handler is done and its result stored (no store reads of our own).
  await end;
  await new Promise((resolve) => setTimeout(resolve, 200));
  const ms = performance.now() - started;
  const bytes = (await redis.outputBytes()) - before;
  await durable.close({ timeout: 1_000 });
  await redis.close();
  return { bytes, ms, statuses };
}

const idle = await measure(0);
const polled = await measure(pollers);
const mb = (bytes: number) => Math.round(bytes / 1e4) / 100;
console.log(
  JSON.stringify({
    pollers,
    frames,
    bodyBytes: BODY.length,
    outputBytesWithoutPollers: idle.bytes,
    outputBytesWithPollers: polled.bytes,
    longPollBytes: polled.bytes - idle.bytes,
    longPollMB: mb(polled.bytes - idle.bytes),
    statuses: polled.statuses,
    ms: Math.round(polled.ms),
  }),
);
