// Durable endpoints on the SQLite store, run as a child process by process-faults.test.ts.
// Usage: node --conditions=@durastream/source --import tsx src/process-faults-server.fixture.ts <db file> <port>
//
// Endpoints (ids in brackets):
// - POST /boom [boom, retries: 2]: step "boom" prints "boom attempt N", then SIGKILLs its own process;
//   attempt 1 first waits for a request to /release-boom, so the client is connected by then.
// - POST /hello [hello]: one step that streams "hi", returns { greeting: "hi" }.
// - POST /slow [slow]: step "first" streams "one "; step "middle" streams "two ", prints "middle
//   waiting", and finishes once this process has answered a request to /hello with 503 after
//   SIGTERM (so it is provably in flight while the process drains), or, with
//   MIDDLE_FINISHES_ON=sigterm, as soon as SIGTERM arrives; step "last" streams "three".
// - GET /hold: not durable; answered once SIGTERM arrives (keeps one keep-alive connection busy
//   across `server.close()`, so the test can send a request on it while the process drains).
//
// Shutdown is the README snippet, exactly. Prints "listening <port>", one line per step execution,
// "poll <n>" after each look for due runs, "sigterm", "refused 503" and "store closed" on stdout.
import type { AddressInfo } from "node:net";
import { createDurable, step, stream } from "@durastream/server";
import type { ResumableCursor, ResumableRun } from "@durastream/server/store";
import { createEndpointServer } from "@durastream/server/node";
import { SqliteRunStore } from "./sqlite-store.js";

const [path, port = "0"] = process.argv.slice(2);
const say = (line: string) => process.stdout.write(`${line}\n`);

/** The SQLite store, printing when the executor polls it and when it is closed. */
class TracedStore extends SqliteRunStore {
  override async listResumableRuns(now: number, limit: number, after?: ResumableCursor): Promise<ResumableRun[]> {
    const due = await super.listResumableRuns(now, limit, after);
    say(`poll ${due.length}`);
    return due;
  }

  override close(): void {
    super.close();
    say("store closed");
  }
}

const durable = createDurable({
  store: new TracedStore({ path: path! }),
  backoff: () => 0,
  pollInterval: 250,
  secret: "process-faults-test-secret",
});

let releaseBoom: () => void = () => {};
const boomReleased = new Promise<void>((resolve) => (releaseBoom = resolve));
const boom = durable.endpoint(
  async () => {
    await step.run("boom", async ({ attempt }) => {
      say(`boom attempt ${attempt}`);
      if (attempt === 1) await boomReleased;
      process.kill(process.pid, "SIGKILL");
      return new Promise<never>(() => {});
    });
    return Response.json({ unreachable: true });
  },
  { id: "boom", retries: 2 },
);

const hello = durable.endpoint(
  async () => {
    const greeting = await step.run("greet", ({ attempt }) => {
      say(`hello attempt ${attempt}`);
      stream.push("hi");
      return "hi";
    });
    return Response.json({ greeting });
  },
  { id: "hello" },
);

let finishMiddle!: () => void;
const middleMayFinish = new Promise<void>((resolve) => (finishMiddle = resolve));
const middleFinishesOnSigterm = process.env.MIDDLE_FINISHES_ON === "sigterm";
const slow = durable.endpoint(
  async () => {
    const first = await step.run("first", ({ attempt }) => {
      say(`first attempt ${attempt}`);
      stream.push("one ");
      return "one";
    });
    const middle = await step.run("middle", async ({ attempt }) => {
      say(`middle attempt ${attempt}`);
      stream.push("two ");
      say("middle waiting");
      await middleMayFinish;
      say("middle done");
      return "two";
    });
    const last = await step.run("last", ({ attempt }) => {
      say(`last attempt ${attempt}`);
      stream.push("three");
      return "three";
    });
    return Response.json({ first, middle, last }, { status: 201 });
  },
  { id: "slow" },
);

let releaseHold: () => void = () => {};
const hold = new Promise<void>((resolve) => (releaseHold = resolve));
const endpoints: Record<string, (request: Request) => Promise<Response>> = { "/boom": boom, "/hello": hello, "/slow": slow };
const waitEndpoint = durable.waitEndpoint();

const server = createEndpointServer(async (request) => {
  const { pathname } = new URL(request.url);
  let response: Response;
  if (pathname === "/release-boom") {
    releaseBoom();
    response = new Response("released");
  } else if (pathname === "/hold") {
    say("holding");
    await hold;
    response = new Response("held");
  } else if (pathname.startsWith("/api/durable/")) {
    response = await waitEndpoint(request);
  } else {
    response = await (endpoints[pathname] ?? (async () => new Response("not found", { status: 404 })))(request);
  }
  if (response.status === 503 && pathname === "/hello") {
    say("refused 503");
    finishMiddle();
  }
  return response;
});
server.listen(Number(port), "127.0.0.1", () => say(`listening ${(server.address() as AddressInfo).port}`));

// The README's graceful shutdown, as it stands there.
process.on("SIGTERM", async () => {
  server.close(); // stop accepting connections
  await durable.close({ timeout: 10_000 }); // hand runs over, end live streams, close the store
  server.closeIdleConnections(); // keep-alive sockets the ended streams leave behind
});
// The test's view of it: the busy keep-alive connection is answered now.
process.on("SIGTERM", () => {
  say("sigterm");
  releaseHold();
  if (middleFinishesOnSigterm) finishMiddle();
});
