// One app instance on the Redis store, run as a child process by multi-instance.test.ts and
// instance-faults.test.ts.
// Usage: node --conditions=@durastream/source --import tsx src/instance-server.fixture.ts
// Environment: NAME (for log lines), PREFIX (Redis key prefix shared by the instances), PORT (0 =
// any), HANG=1 (hang inside step "middle" of /story), CLOCK_OFFSET (ms this instance's clock runs
// ahead: "later", as after a lease expired or a sleep ended), LEASE (lease duration, ms; default
// 30 000), POLL (how often to look for runs to take over, ms; default 5 000), CLOSE_TIMEOUT (how
// long SIGTERM lets running step attempts finish, ms; default 10 000).
// Prints "listening <port>", "executing <what>" and "run <runId> <endpoint> on <name>" lines on
// stdout, "shutting down" on SIGTERM and "closed" once durable.close() is done.
// Routes: /story, /sleepy, /waiter, /short (durable endpoints), /poison (its step "boom", retries 2,
// SIGKILLs its own process on every attempt), /handover (step "first" streams "one ", waits for
// SIGUSR2, streams "two "; step "second" streams "three"), /upload (not durable: reads the request
// body, printing "receiving upload on <name>" first), /send, and the wait endpoint /api/durable/.
import type { AddressInfo } from "node:net";
import { createDurable, step, stream } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { RedisRunStore } from "./redis-store.js";

const name = process.env.NAME ?? "?";
const offset = Number(process.env.CLOCK_OFFSET ?? 0);
const say = (line: string) => process.stdout.write(`${line}\n`);

const store = new RedisRunStore({ prefix: process.env.PREFIX ?? "durastream-test:" });
const durable = createDurable({
  store,
  backoff: () => 0,
  secret: "multi-instance-test-secret",
  leaseDuration: Number(process.env.LEASE ?? 30_000),
  pollInterval: Number(process.env.POLL ?? 5_000),
  maxInlineWait: 1_000,
  timers: {
    now: () => Date.now() + offset,
    setTimeout: (callback, ms) => setTimeout(callback, ms),
    clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  },
});

const story = durable.endpoint(
  async () => {
    const intro = await step.run("intro", () => {
      say(`executing intro on ${name}`);
      return stream.pipe(async function* () {
        yield "Once ";
        yield "upon ";
      });
    });
    const middle = await step.run("middle", async ({ attempt }) => {
      say(`executing middle attempt ${attempt} on ${name}`);
      stream.push("a ");
      stream.push("time");
      if (process.env.HANG === "1") {
        say("hanging in middle");
        await new Promise(() => {});
      }
      return "a time";
    });
    const end = await step.run("end", () => {
      say(`executing end on ${name}`);
      stream.push(", the end.");
      return "the end";
    });
    return Response.json({ intro, middle, end, finishedOn: name });
  },
  { id: "story" },
);

const sleepy = durable.endpoint(
  async () => {
    await step.run("before", () => {
      say(`executing before on ${name}`);
      stream.push("Good ");
    });
    await step.sleep("nap", "1h");
    await step.run("after", () => {
      say(`executing after on ${name}`);
      stream.push("morning");
    });
    return Response.json({ wokeOn: name });
  },
  { id: "sleepy" },
);

const waiter = durable.endpoint(
  async (request) => {
    const { key } = (await request.json()) as { key: string };
    const event = await step.waitForEvent("go", { event: "test/go", match: { "data.key": key }, timeout: "1d" });
    await step.run("after", () => {
      say(`executing after-event on ${name}`);
      stream.push(`got ${JSON.stringify(event?.data)}`);
    });
    return Response.json({ event, resumedOn: name });
  },
  { id: "waiter" },
);

const short = durable.endpoint(
  async (request) => {
    const n = new URL(request.url).searchParams.get("n") ?? "0";
    await step.run("echo", () => {
      stream.push(`${n}:a `);
      stream.push(`${n}:b`);
    });
    return Response.json({ n, on: name });
  },
  { id: "short" },
);

// A step that takes its process down on every attempt (a native crash, out of memory): after
// retries + 1 interrupted attempts the run must fail for good instead of crashing instances forever.
const poison = durable.endpoint(
  async (_request, { runId }) => {
    say(`run ${runId} poison on ${name}`);
    await step.run({ id: "boom", retries: 2 }, ({ attempt }) => {
      say(`executing boom attempt ${attempt} on ${name}`);
      process.kill(process.pid, "SIGKILL");
      return new Promise<never>(() => {});
    });
    return Response.json({ survived: true });
  },
  { id: "poison" },
);

// SIGUSR2 opens the gate step "first" of /handover waits at (as a model call that takes its time).
let gateOpen = false;
const gateWaiters: (() => void)[] = [];
process.on("SIGUSR2", () => {
  gateOpen = true;
  for (const open of gateWaiters.splice(0)) open();
});
const handover = durable.endpoint(
  async (_request, { runId }) => {
    say(`run ${runId} handover on ${name}`);
    const first = await step.run("first", async () => {
      say(`executing first on ${name}`);
      stream.push("one ");
      if (!gateOpen) await new Promise<void>((resolve) => gateWaiters.push(resolve));
      say(`first released on ${name}`);
      stream.push("two ");
      return "one two ";
    });
    const second = await step.run("second", () => {
      say(`executing second on ${name}`);
      stream.push("three");
      return "three";
    });
    return Response.json({ first, second, finishedOn: name });
  },
  { id: "handover" },
);

const waitEndpoint = durable.waitEndpoint();
const server = createEndpointServer(async (request) => {
  const { pathname } = new URL(request.url);
  if (pathname.startsWith("/api/durable/")) return waitEndpoint(request);
  if (pathname === "/story") return story(request);
  if (pathname === "/sleepy") return sleepy(request);
  if (pathname === "/waiter") return waiter(request);
  if (pathname === "/short") return short(request);
  if (pathname === "/poison") return poison(request);
  if (pathname === "/handover") return handover(request);
  if (pathname === "/upload") {
    say(`receiving upload on ${name}`);
    return new Response(`received ${(await request.text()).length} characters on ${name}`);
  }
  if (pathname === "/send") return Response.json(await durable.send((await request.json()) as { name: string; data: unknown }));
  return new Response("not found", { status: 404 });
});
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => say(`listening ${(server.address() as AddressInfo).port}`));
// Graceful shutdown, as the README shows: no new connections, runs handed over, live streams
// redirected, the store closed last; then the process exits by itself.
process.on("SIGTERM", async () => {
  say("shutting down");
  server.close(); // stop accepting connections
  await durable.close({ timeout: Number(process.env.CLOSE_TIMEOUT ?? 10_000) }); // hand runs over, end live streams, close the store
  server.closeIdleConnections(); // keep-alive sockets the ended streams leave behind
  say("closed");
});
