// The worker process: the durable endpoint (POST /api/run) and its wait endpoint (/api/durable/…)
// on a SQLite run store. server.ts starts it as a child process, proxies the API to it, and may
// SIGKILL it and start a new one on the same SQLite file: the new worker takes the running runs
// over (rolling back the interrupted step) and finishes them.
//
// Run by server.ts as: node --conditions=@durastream/source --import tsx worker.ts
// Environment: PLAYGROUND_DB (the SQLite file), PLAYGROUND_SECRET (resume-token secret, the same
// for every worker of a session). Talks to its parent over the IPC channel:
//   worker → parent: { type: "ready", port }, { type: "kill-me", reason }
import type { AddressInfo } from "node:net";
import { createDurable } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { SqliteRunStore } from "@durastream/sqlite";
import { createAgentHandler } from "./agent.js";
import { MAX_INLINE_WAIT_MS } from "./run-request.js";

/** Messages from a worker to its parent. */
export type WorkerMessage = { type: "ready"; port: number } | { type: "kill-me"; reason: string };

const path = process.env.PLAYGROUND_DB;
const secret = process.env.PLAYGROUND_SECRET;
if (path === undefined || secret === undefined || process.send === undefined) {
  console.error("worker.ts is started by server.ts (it needs PLAYGROUND_DB, PLAYGROUND_SECRET and an IPC channel).");
  process.exit(1);
}
const send = (message: WorkerMessage) => process.send?.(message);
const log = (line: string) => console.log(`[worker ${process.pid}] ${line}`);

const store = new SqliteRunStore({ path });
const durable = createDurable({
  store,
  secret,
  maxInlineWait: MAX_INLINE_WAIT_MS,
  keepAliveInterval: 5_000,
  pollInterval: 500,
});

// Registered at start with a stable id: a new worker resumes the runs its killed predecessor left.
const endpoint = durable.endpoint(
  createAgentHandler({
    log,
    requestKill(reason) {
      log(`kill point reached (${reason}): asking the supervisor for SIGKILL`);
      // A moment for the tokens streamed so far to reach the page, so they can be seen rolled back.
      setTimeout(() => send({ type: "kill-me", reason }), 150);
    },
  }),
  { id: "playground-agent" },
);
const waitEndpoint = durable.waitEndpoint();

const server = createEndpointServer(
  (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/api/run" && request.method === "POST") return endpoint(request);
    if (pathname.startsWith("/api/durable/")) return waitEndpoint(request);
    return Promise.resolve(Response.json({ error: "not found" }, { status: 404 }));
  },
  { onError: ({ error, phase }) => log(`request failed (${phase}): ${error instanceof Error ? error.stack : String(error)}`) },
);

server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as AddressInfo;
  send({ type: "ready", port });
});

function shutdown(): void {
  durable.close();
  server.closeAllConnections();
  server.close();
  store.close();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", () => {}); // Ctrl-C reaches the whole process group: the supervisor stops this worker itself
process.on("disconnect", shutdown); // the supervisor is gone
