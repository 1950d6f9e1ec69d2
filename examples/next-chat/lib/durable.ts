import { createDurable, MemoryRunStore, type Durable, type RunStore } from "@durastream/server";
import { PHASE_PRODUCTION_BUILD } from "next/constants";
import { after } from "next/server";
import { onRequestOrigin, withRequestOrigin } from "./request-origin";

/**
 * What every route's Durastream instance shares: the store (runs, their frame logs, leases) and the
 * resume-token secret.
 *
 * The chat endpoint and the wait endpoint must see the same runs. Next.js may evaluate this module
 * more than once in one process — `next dev` compiles each route on its own and re-evaluates
 * modules after edits — so the shared parts live on `globalThis`. The `durable` instance itself is
 * created per evaluation, on purpose: `step`, `stream` and `pipeModel` find the running step through
 * the AsyncLocalStorage of the very copy of `@durastream/server` that the route imported, so the
 * instance must come from that same copy. Several instances on one store behave like several
 * servers on one Redis: one runs a run, any of them can stream its log.
 *
 * The in-memory store is lost when the process exits. In a real deployment use
 * `new SqliteRunStore({ path: "./runs.sqlite" })` from `@durastream/sqlite` (one machine: runs
 * survive a restart) or `new RedisRunStore({ url: process.env.REDIS_URL })` from `@durastream/redis`
 * (several instances), with the same `DURASTREAM_SECRET` everywhere.
 */
const shared = ((globalThis as { [key: symbol]: { store: RunStore; developmentSecret: string } | undefined })[Symbol.for("durastream.example.next-chat")] ??= {
  store: new MemoryRunStore(),
  developmentSecret: Array.from(crypto.getRandomValues(new Uint8Array(32)), (byte) => byte.toString(16).padStart(2, "0")).join(""),
});

/** Signs resume URLs (the wait endpoint's links); the same for every route. */
function resumeTokenSecret(): string | undefined {
  if (process.env.DURASTREAM_SECRET) return process.env.DURASTREAM_SECRET;
  // `next build` loads the routes to read their config, but serves nothing.
  if (process.env.NEXT_PHASE === PHASE_PRODUCTION_BUILD) return "unused-while-building-the-app";
  // `next start`: createDurable refuses to run without DURASTREAM_SECRET (e.g. `openssl rand -hex 32`).
  if (process.env.NODE_ENV === "production") return undefined;
  // `next dev`: a random secret for this dev server (resume links stop working when it restarts).
  return shared.developmentSecret;
}

const instance = createDurable({
  store: shared.store,
  secret: resumeTokenSecret(),
  // A retried step waits 0.5 s, 1 s, 2 s… — short enough to stay on the live connection.
  backoff: { initialDelay: 500 },
  // Keeps a run going after its response ended (a client that disconnected, a retry backoff).
  waitUntil: keepAlive,
});

/**
 * The app's Durastream instance, for `app/api/chat/route.ts` (`durable.endpoint`),
 * `app/api/chat/[id]/stream/route.ts` (`durable.attach`, through `uiMessageResumeHandler`) and
 * `app/api/durable/[runId]/route.ts` (`durable.waitEndpoint`). They see `request.url` on the origin
 * the browser used, so resume URLs point back at it (see `lib/request-origin.ts`).
 */
export const durable: Durable = {
  ...instance,
  endpoint: (handler, options) => withRequestOrigin(instance.endpoint(handler, options)),
  waitEndpoint: (options) => withRequestOrigin(instance.waitEndpoint(options)),
  attach: (endpointId, key, request) => instance.attach(endpointId, key, onRequestOrigin(request)),
};

/**
 * Hands background work to Next.js's `after()`, which keeps the function alive until the promise
 * settles (on Vercel and other serverless hosts too). `after()` only works inside a request; work
 * started outside one (a timer resuming a sleeping run) needs nothing: `next start` is a
 * long-lived process.
 */
function keepAlive(promise: Promise<unknown>): void {
  try {
    after(promise);
  } catch {
    // Outside a request scope: nothing to register.
  }
}
