import { InvalidOptionsError, PROTOCOL_VERSION, RUN_ID_HEADER } from "@durastream/protocol";
import { checkOptionalFunction } from "@durastream/protocol/internal";
import { createErrorReporter, type ErrorHandler } from "./background-errors.js";
import { DEFAULT_CANCEL_REASON } from "./cancel-run.js";
import type { DurableHandler, ExecutionEnd } from "./run-types.js";
import { DEFAULT_MAX_RESPONSE_BYTES } from "./run-response.js";
import { stepTimeoutOf } from "./step-attempt.js";
import { toMilliseconds, type Duration } from "./duration.js";
import { DurableError } from "./errors.js";
import { assertWellFormedId } from "./ids.js";
import { acceptsEventStream, eventStreamHeaders } from "./event-stream.js";
import { Executor, type Registration } from "./executor.js";
import { createLogStream, LiveStreams } from "./log-stream.js";
import { DEFAULT_MAX_BUFFERED_BYTES } from "./run-log-writer.js";
import { attachTextBody } from "./text-body.js";
import { unavailableResponse } from "./unavailable-response.js";
import { createWaitEndpoint, type WaitEndpointOptions } from "./wait-endpoint.js";
import { publicOrigin, resumeUrl, type ResumeUrlOptions } from "./resume-url.js";
import { bodyAlreadyReadResponse, isBodyAlreadyRead } from "./body-already-read.js";
import { DEFAULT_REQUEST_HEADERS, snapshotRequest } from "./request-snapshot.js";
import { ResumeTokens, resolveSecret } from "./resume-token.js";
import { resolveRetryPolicy, type Backoff } from "./retry-policy.js";
import { attachToRun, type AttachSettings } from "./run-attach.js";
import { checkKeyOption, isRunKey, requestKey, startOrAttach, type RunKeyFunction } from "./run-keys.js";
import { MemoryRunStore } from "./store/memory-store.js";
import type { DurableEvent, RunStore } from "./store/run-store.js";
import { systemTimers, type Timers } from "./timers.js";

/** Options of `createDurable`. */
export interface DurableOptions {
  /** Where runs live. Default: a `MemoryRunStore` of this process. */
  store?: RunStore;
  /** Default retries per step for every endpoint, 0 to 20. Default 3. */
  retries?: number;
  /** Default backoff between step attempts. Default: exponential from 1 s, factor 2, up to 30 s, ±20 % jitter. */
  backoff?: Backoff;
  /**
   * Secret for the HMAC tokens in resume URLs (at least 16 characters, the same on every instance).
   * Default: `process.env.DURASTREAM_SECRET`; outside production a random per-process secret.
   */
  secret?: string;
  /** Path the wait endpoint (`durable.waitEndpoint()`) is mounted at; resume URLs are `<basePath>/<runId>?token=…`. Default `/api/durable`. */
  basePath?: string;
  /**
   * Where resume URLs point instead: a path or URL (resolved against the request, with `runId` and
   * `token` query parameters added), or a function building the whole URL.
   */
  asyncRedirectUrl?: string | ((params: { runId: string; token: string }) => string | Promise<string>);
  /**
   * How long a resume URL stays valid, ms. Default 24 hours. The expiry slides: each request the
   * wait endpoint accepts answers with URLs carrying a fresh token (metadata `resumeUrl`, redirect
   * frames, the `202`'s `Location`), valid for this long from then. A client that reconnects
   * within the TTL with the latest URL keeps access to a run that lasts longer; an unused URL
   * expires (`404`). Keep `maxConnectionDuration` below it so long-open connections renew too.
   */
  resumeTokenTtl?: number;
  /** Waits (sleeps, retry backoffs) up to this long stay on the live connection; longer ones suspend the run. Default 10 000 ms. */
  maxInlineWait?: number;
  /** Longest a live connection stays open before it is redirected to the wait endpoint, ms (for serverless limits). Default: no limit. */
  maxConnectionDuration?: number;
  /** Milliseconds of silence on an SSE connection before a keep-alive comment. Default 15 000. */
  keepAliveInterval?: number;
  /** Registers background work with the host so it is not cut off (Next.js `after`, Vercel/Cloudflare `waitUntil`). */
  waitUntil?: (promise: Promise<unknown>) => void;
  /** Largest request body stored with a run, bytes; larger ones get 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Request headers stored with a run for re-executions. Default: content-type, accept, accept-language, user-agent. */
  requestHeaders?: readonly string[];
  /** Limits per run, that keep one run (and so the process) from holding memory without bound. */
  limits?: DurableLimits;
  /** How long a process's claim on a run holds without renewal, ms. Default 30 000. */
  leaseDuration?: number;
  /** How often to look for due runs left by other processes, ms. Default 5 000. */
  pollInterval?: number;
  /**
   * How long a run whose endpoint id is registered nowhere may stay due before it is ended as
   * failed with a `DurableError` of code `UNKNOWN_ENDPOINT` (status 500, the message as body): an
   * endpoint that was removed or renamed leaves runs nobody can resume. Milliseconds or a duration
   * such as `"30m"`; `Infinity` keeps them waiting for good. Default 1 hour.
   *
   * A process ends such a run only when no endpoint with its id is registered in that process and
   * the run has been due for this long while the process was looking for due runs (so a process
   * that just started, after a restart or a downtime, first waits this long itself). During a
   * rolling deploy that adds an endpoint, the instances that lack it leave its runs to the new ones
   * (which resume them within `pollInterval`). Make it longer than any time an endpoint may be
   * missing from every instance (a deploy, an outage), and register every endpoint when the process
   * starts: with a framework that loads route modules on their first request, import them at
   * startup, or their runs count as orphaned until then.
   *
   * @example
   * ```ts
   * createDurable({ store, orphanGrace: "6h" });
   * ```
   */
  orphanGrace?: Duration;
  /**
   * Behind a reverse proxy: takes host and protocol from X-Forwarded-Host / X-Forwarded-Proto
   * (the first value of each; a host name or address with an optional port, and `http` or
   * `https`; other values are ignored) instead of the request's own host and protocol. Only enable
   * it behind a proxy that sets both headers: clients can send them too. The same rules as
   * `serveEndpoint(handler, { trustProxy })` (forwarded-headers.ts). Here they make the origin of
   * resume URLs. Default false.
   */
  trustProxy?: boolean;
  /**
   * Receives every error of background work (`{ error, phase, runId? }`): polling for due runs,
   * takeovers, lease renewals, store writes that are retried, log reads of live connections, the
   * wait endpoint's long-polls, shutdown. None of these is ever thrown into the event loop.
   * Default: `console.error`, at most once a minute per kind of error.
   *
   * @example
   * ```ts
   * createDurable({ onError: ({ error, phase, runId }) => logger.warn({ err: error, phase, runId }, "durastream") });
   * ```
   */
  onError?: ErrorHandler;
  /**
   * Longest one step attempt may take before it fails with a `TIMEOUT` error and is retried
   * (milliseconds or a duration such as `"5m"`); `step.run({ id, timeout })` overrides it. Default: none.
   */
  stepTimeout?: Duration;
  /** Clock and timers; tests inject their own. */
  timers?: Timers;
}

/**
 * `createDurable({ limits })`: per-run bounds. Each is a number >= 1 (`maxResponseBytes` >= 0);
 * `Infinity` turns one off.
 */
export interface DurableLimits {
  /** Most frames in a run's log; one more fails the pushing step with `LOG_LIMIT`. Default 1,000,000. */
  maxFramesPerRun?: number;
  /**
   * Most bytes (UTF-16 code units of frame payloads) in a run's log, the result frame included.
   * A push past it fails the pushing step with `LOG_LIMIT`; a result that would go past it is
   * replaced by a small failed result (status 500) saying so. Default 128 MiB.
   */
  maxLogBytes?: number;
  /**
   * Bound on one run's chunks queued for the store and not yet stored (payload UTF-16 code units
   * plus 64 per chunk). Above it `stream.pipe` stops pulling its source and `stream.ready` waits
   * until the store has caught up; a `stream.push` made while more than 4 times this is queued
   * throws a `DurableError` with code `BACKPRESSURE`. Memory held by runs' backlogs is thus at most
   * about (concurrent runs) × this. Default 8 MiB.
   */
  maxBufferedBytes?: number;
  /**
   * Most bytes of a handler's response body read and stored as the run's result. Past it the body
   * is not read further (its stream is cancelled) and the run fails with a `DurableError` of code
   * `RESPONSE_TOO_LARGE` (a 500 result saying so). Default 16 MiB.
   */
  maxResponseBytes?: number;
}

/** Options of one endpoint. */
export interface EndpointOptions {
  /**
   * The endpoint's id, stored with its runs; a process resumes a run (after a restart, a takeover,
   * or a sleep, event or backoff it did not start) only through the endpoint registered here under
   * the run's id. One id belongs to one handler: registering it again with another handler throws
   * `INVALID_OPTIONS` (the same handler again is a no-op). Must be well-formed UTF-16.
   *
   * Required with a store that outlives the process (SQLite, Redis, any store without
   * `ephemeral: true`): such runs are resumed after a restart, or by another instance, before any
   * request arrives, so the endpoint must be known by id from the start; without one,
   * `durable.endpoint` throws `INVALID_OPTIONS`. Use the same id on every instance.
   *
   * Optional with the in-memory store, whose runs end with the process: the default is
   * `METHOD /path` of the endpoint's first request in this process.
   */
  id?: string;
  /** Retries per step, 0 to 20; overrides `createDurable`'s. */
  retries?: number;
  /** Backoff between step attempts; overrides `createDurable`'s. */
  backoff?: Backoff;
  /** Cancel the run when its first client disconnects (instead of finishing it in the background). Default false. */
  cancelOnDisconnect?: boolean;
  /**
   * Runs addressed by a key (idempotency): a function of the request returning the run's key, e.g.
   * the chat id, or `null`/`undefined` for none (see `RunKeyFunction`; it gets its own copy of the
   * request, so it may read the body). While a run of this endpoint with that key is active
   * (running or suspended), a request with the same key attaches to it instead of starting
   * another: an SSE request gets the run's log from the start and then live (as the wait endpoint
   * serves it, with a fresh resume URL in the metadata frame), any other request waits for its
   * result (or gets a `303` to the wait endpoint, as the request that started it would). The store
   * holds keys atomically, so concurrent requests with one key start exactly one run; once the run
   * is over (any status), the next request with the key starts a new run. Keys are per endpoint
   * id. A key that is not a non-empty string of at most 512 UTF-8 bytes gets a `400` saying so.
   * Only the first request's client can cancel the run by disconnecting (`cancelOnDisconnect`).
   * `durable.attach(endpointId, key, request)` reaches the active run of a key without a body.
   *
   * @example
   * ```ts
   * export const POST = durable.endpoint(handler, { id: "chat", key: async (request) => (await request.json()).id });
   * ```
   */
  key?: RunKeyFunction;
  /** Longest one step attempt may take; overrides `createDurable`'s `stepTimeout`. */
  stepTimeout?: Duration;
}

/** Options of `durable.close()`. */
export interface CloseOptions {
  /**
   * How long step attempts that are running may take to finish before the process stops them
   * (they are then rolled back and run again by the next executor), ms. Default 10 000.
   */
  timeout?: number;
}

/** A Web request handler, as Next.js route handlers, Bun, Deno and Hono take. */
export type WebHandler = (request: Request) => Promise<Response>;

/** The object `createDurable` returns. */
export interface Durable {
  /** The store runs are kept in. */
  readonly store: RunStore;
  /**
   * Wraps a handler into a durable endpoint. A request with `Accept: text/event-stream` gets a 200
   * SSE response at once, carrying the run's frames as they are produced and ending with a result
   * frame holding the handler's response, or a redirect frame when the run goes to the background.
   * Any other request gets the handler's own Response, or a 303 to the wait endpoint.
   *
   * @example
   * ```ts
   * export const POST = durable.endpoint(async (request, { step, stream }) => {
   *   const { prompt } = await request.json();
   *   const answer = await step.run("answer", () => stream.pipe(model.stream(prompt)));
   *   return Response.json({ answer });
   * }, { id: "chat" });
   * ```
   */
  endpoint(handler: DurableHandler, options?: EndpointOptions): WebHandler;
  /**
   * The wait endpoint, mounted by the app at `basePath` (e.g. Next.js
   * `app/api/durable/[runId]/route.ts`: `export const GET = durable.waitEndpoint()`). Streams a run's log
   * from any offset and tails it, or long-polls for its final response. `DELETE` on a resume URL
   * cancels the run (see `cancel`): `204`, or `404` when the run is over or unknown or the token is
   * bad or expired. Mount it for `DELETE` too for clients to cancel their runs.
   *
   * @example
   * ```ts
   * // app/api/durable/[runId]/route.ts
   * export const GET = durable.waitEndpoint();
   * export const DELETE = GET; // clients may cancel their runs: cancelRun(resumeUrl)
   * ```
   */
  waitEndpoint(options?: WaitEndpointOptions): WebHandler;
  /**
   * Serves the active (running or suspended) run of endpoint `endpointId` whose key is `key` (see
   * `EndpointOptions.key`) to `request`, or resolves `null` when no such run is active (none was
   * started with the key, or it is over): a resume route without a body, e.g. the AI SDK's
   * `GET /api/chat/[id]/stream`. With `Accept: text/event-stream` the response is the run's log
   * from the start and then live (the frames the wait endpoint sends, a fresh resume URL in the
   * metadata frame); otherwise the run's final response once it has one, or a `303` to the wait
   * endpoint. A string that cannot be a key (empty, over 512 UTF-8 bytes) resolves `null`; a `503`
   * when the store is unavailable or the process is shutting down. Authorize the request first:
   * whoever knows a key can read its run.
   *
   * @example
   * ```ts
   * // app/api/chat/[id]/stream/route.ts
   * export async function GET(request: Request, { params }: { params: Promise<{ id: string }> }) {
   *   const response = await durable.attach("chat", (await params).id, request);
   *   return response ?? new Response(null, { status: 204 });
   * }
   * ```
   */
  attach(endpointId: string, key: string, request: Request): Promise<Response | null>;
  /**
   * Delivers an event to the runs waiting for it in `step.waitForEvent`. Resolves with how many
   * were woken as soon as the event is stored with them: it does not wait for them to go on. A run
   * executing in this process gets the event at once; the others are resumed in the background
   * (their errors go to `onError`), or by whichever instance polls first.
   *
   * @example
   * ```ts
   * await durable.send({ name: "review/approved", data: { draftId } });
   * ```
   */
  send(event: DurableEvent): Promise<{ woken: number }>;
  /**
   * Cancels a run for good, whichever instance executes it and whether it is running or suspended
   * (a sleep, an event wait, a retry backoff: it never wakes). The execution's signal aborts (the
   * handler's `signal` and each step's: pipes cancel their sources, a model stream stops), nothing
   * more of it is stored, every step attempt in flight gets a rollback frame (`willRetry: false`),
   * and the run ends as a failure with a `DurableError` of code `RUN_CANCELLED`: status 500, the
   * reason as its plain-text body, the result `cancelOnDisconnect` gives. Clients reading the run
   * see the rollbacks and that result frame, and nothing after it.
   *
   * Resolves once the cancel is stored: `true` when this call ended the run, `false` when the run
   * is unknown (or expired) or over already (cancelled before: a second cancel changes nothing).
   * An execution in this process has its signal aborted at once; one on another instance is fenced
   * (the store refuses its writes from now on) and stops at its next write or lease renewal (within
   * a third of `leaseDuration`), writing nothing. Clients cancel with the run's resume URL:
   * `DELETE <resumeUrl>` on the wait endpoint (`cancelRun(resumeUrl)` in `@durastream/client`).
   *
   * @example
   * ```ts
   * // app/api/runs/[runId]/cancel/route.ts, behind your own authorization
   * export async function POST(request: Request, { params }: { params: Promise<{ runId: string }> }) {
   *   const cancelled = await durable.cancel((await params).runId, "Stopped by the user.");
   *   return new Response(null, { status: cancelled ? 204 : 404 });
   * }
   * ```
   */
  cancel(runId: string, reason?: string): Promise<boolean>;
  /**
   * Graceful shutdown, for `SIGTERM`. Stops taking new runs (new requests get `503` with
   * `Retry-After`), lets the step attempts running now finish and store their commit or rollback
   * (up to `timeout`), hands every run this process executes over (its lease is released, so
   * another instance, or this one restarted, takes it over at once), sends every live SSE
   * connection a `redirect` frame (reason `shutdown`) after the frames it has not read yet, answers
   * waiting long-polls with `202`/`303`, and closes the store last. Safe to call twice.
   *
   * @example
   * ```ts
   * process.on("SIGTERM", async () => {
   *   server.close();                          // stop accepting connections
   *   await durable.close({ timeout: 10_000 }); // hand runs over, end live streams, close the store
   * });
   * ```
   */
  close(options?: CloseOptions): Promise<void>;
}

/**
 * Creates the durable toolkit: `durable.endpoint(handler)` turns Web handlers into durable,
 * streaming endpoints; `durable.waitEndpoint()` is their wait endpoint; `durable.send` delivers events.
 *
 * @example
 * ```ts
 * import { createDurable, step, stream } from "@durastream/server";
 *
 * const durable = createDurable({ retries: 2 });
 * export const POST = durable.endpoint(async () => {
 *   const text = await step.run("greet", () => stream.pipe(words("Hello there")));
 *   return Response.json({ text });
 * });
 * ```
 */
export function createDurable(options: DurableOptions = {}): Durable {
  if (typeof options !== "object" || options === null) {
    throw new InvalidOptionsError("createDurable(options): options must be an object or omitted.");
  }
  const {
    store = new MemoryRunStore() as RunStore,
    timers = systemTimers,
    keepAliveInterval = 15_000,
    basePath = "/api/durable",
    resumeTokenTtl = 24 * 3_600_000,
    maxInlineWait = 10_000,
    maxConnectionDuration = Number.POSITIVE_INFINITY,
    maxBodyBytes = 1024 * 1024,
    requestHeaders = DEFAULT_REQUEST_HEADERS,
    leaseDuration = 30_000,
    pollInterval = 5_000,
    asyncRedirectUrl,
    waitUntil,
    onError,
  } = options;
  checkOptionalFunction("createDurable", "onError", onError, "a function ({ error, phase, runId }) => void");
  const stepTimeout = options.stepTimeout === undefined ? undefined : stepTimeoutOf(options.stepTimeout, "createDurable");
  const orphanGrace =
    options.orphanGrace === undefined || options.orphanGrace === Number.POSITIVE_INFINITY
      ? options.orphanGrace
      : toMilliseconds(options.orphanGrace, 'createDurable: "orphanGrace"');
  const maxFramesPerRun = options.limits?.maxFramesPerRun ?? 1_000_000;
  const maxLogBytes = options.limits?.maxLogBytes ?? 128 * 1024 * 1024;
  const maxBufferedBytes = options.limits?.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  const maxResponseBytes = options.limits?.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  for (const [name, value, min] of [
    ["keepAliveInterval", keepAliveInterval, 1],
    ["resumeTokenTtl", resumeTokenTtl, 1000],
    ["maxInlineWait", maxInlineWait, 0],
    ["maxConnectionDuration", maxConnectionDuration, 1],
    ["maxBodyBytes", maxBodyBytes, 0],
    ["leaseDuration", leaseDuration, 100],
    ["pollInterval", pollInterval, 10],
    ["limits.maxFramesPerRun", maxFramesPerRun, 1],
    ["limits.maxLogBytes", maxLogBytes, 1],
    ["limits.maxBufferedBytes", maxBufferedBytes, 1],
    ["limits.maxResponseBytes", maxResponseBytes, 0],
  ] as const) {
    if (typeof value !== "number" || Number.isNaN(value) || value < min) {
      throw new InvalidOptionsError(`createDurable: "${name}" must be a number >= ${min} (milliseconds or bytes), got ${String(value)}.`);
    }
  }
  if (typeof basePath !== "string" || !basePath.startsWith("/")) {
    throw new InvalidOptionsError(`createDurable: "basePath" must be a path starting with "/", e.g. "/api/durable", got ${String(basePath)}.`);
  }
  if (!Array.isArray(requestHeaders) || !requestHeaders.every((name) => typeof name === "string")) {
    throw new InvalidOptionsError('createDurable: "requestHeaders" must be an array of header names.');
  }
  const durableDefaults = { retries: options.retries, backoff: options.backoff };
  resolveRetryPolicy("createDurable", durableDefaults);
  const tokens = new ResumeTokens(resolveSecret(options.secret));
  const report = createErrorReporter(onError, () => timers.now());
  const executor = new Executor({
    store,
    timers,
    maxInlineWait,
    maxFramesPerRun,
    maxLogBytes,
    maxBufferedBytes,
    maxResponseBytes,
    leaseDuration,
    pollInterval,
    ...(orphanGrace === undefined ? {} : { orphanGrace }),
    waitUntil,
    report,
    stepTimeout,
  });
  /** Live SSE connections of this process's endpoints and wait endpoint, to redirect at shutdown. */
  const live = new LiveStreams(store); // with the shared tails of the store's runs (run-tail.ts)
  let closing: Promise<void> | null = null;

  const trustProxy = options.trustProxy === true;
  const resumeUrls: ResumeUrlOptions = { tokens, timers, resumeTokenTtl, basePath, asyncRedirectUrl, trustProxy };
  const attachSettings: AttachSettings = { store, timers, executor, keepAliveInterval, maxConnectionDuration, report, live, resumeUrls };

  return {
    store,
    endpoint(handler, endpointOptions = {}) {
      if (typeof handler !== "function") {
        throw new InvalidOptionsError("durable.endpoint(handler): handler must be a function (request, context) => Response.");
      }
      if (endpointOptions.id !== undefined && (typeof endpointOptions.id !== "string" || endpointOptions.id === "")) {
        throw new InvalidOptionsError('durable.endpoint: "id" must be a non-empty string.');
      }
      if (endpointOptions.id !== undefined) assertWellFormedId(endpointOptions.id, "durable.endpoint({ id })");
      if (endpointOptions.id === undefined && store.ephemeral !== true) {
        throw new InvalidOptionsError(
          'durable.endpoint: give this endpoint an id, e.g. durable.endpoint(handler, { id: "chat" }), the same on every instance. Its runs are kept in a store that outlives this process (SQLite, Redis), and after a restart they are resumed through the endpoint registered under their id before any request arrives; an endpoint without an id would be known only once a request reached its path.',
        );
      }
      if (endpointOptions.key !== undefined) checkKeyOption(endpointOptions.key, store);
      const endpointDefaults = { retries: endpointOptions.retries, backoff: endpointOptions.backoff };
      resolveRetryPolicy("durable.endpoint", durableDefaults, endpointDefaults);
      const registration: Registration = {
        handler,
        retryPolicy: [durableDefaults, endpointDefaults],
        ...(endpointOptions.stepTimeout === undefined ? {} : { stepTimeout: stepTimeoutOf(endpointOptions.stepTimeout, "durable.endpoint") }),
      };
      if (endpointOptions.id !== undefined) executor.register(endpointOptions.id, registration);

      return async (request: Request): Promise<Response> => {
        if (executor.closed)
          return unavailableResponse("This instance is shutting down; send the request again (another instance takes it).", { connection: "close" });
        const misrouted = misroutedResume(request, basePath, asyncRedirectUrl);
        if (misrouted !== null) return misrouted;
        // A body parser ran first (Hono's c.req.json(), express.json()): say what to change.
        if (request.bodyUsed) return bodyAlreadyReadResponse();
        const endpointId = endpointOptions.id ?? `${request.method} ${new URL(request.url).pathname}`;
        executor.register(endpointId, registration);
        let captured: Awaited<ReturnType<typeof snapshotRequest>>;
        try {
          captured = await snapshotRequest(request, { maxBodyBytes, headers: requestHeaders });
        } catch (error) {
          if (DurableError.isInstance(error) && error.code === "BODY_TOO_LARGE") {
            return new Response(error.message, { status: 413, headers: { "content-type": "text/plain; charset=utf-8" } });
          }
          if (isBodyAlreadyRead(error)) return bodyAlreadyReadResponse(error);
          throw error;
        }
        const handlerRequest = new Request(request.url, {
          method: request.method,
          headers: request.headers,
          body: request.method === "GET" || request.method === "HEAD" ? null : captured.body,
        });
        const sse = acceptsEventStream(request);
        // A keyed endpoint (`key`): the key from a copy of the request; a request whose key an
        // active run holds attaches to that run (run-keys.ts).
        const key = endpointOptions.key === undefined ? undefined : await requestKey(endpointOptions.key, request, captured.body);
        if (key instanceof Response) return key;
        let started: Awaited<ReturnType<typeof executor.start>>;
        try {
          const outcome = await startOrAttach(
            () => executor.start(endpointId, registration, handlerRequest, captured.snapshot, !sse, key),
            (runId) => attachToRun(attachSettings, runId, request),
          );
          if (outcome instanceof Response) return outcome;
          started = outcome;
        } catch (error) {
          // The store cannot take a new run now: nothing has started, so the client may simply retry.
          if (DurableError.isInstance(error) && error.code === "STORE_UNAVAILABLE") {
            report("resume", error);
            return unavailableResponse("The run store is unavailable right now; nothing was started. Send the request again in a moment.");
          }
          throw error;
        }
        const { run, end } = started;
        const url = await resumeUrl(resumeUrls, run.runId, request);
        const disconnect = () => run.cancel("The client disconnected, so the run was cancelled (cancelOnDisconnect).");

        if (!sse) {
          if (endpointOptions.cancelOnDisconnect === true) request.signal.addEventListener("abort", disconnect, { once: true });
          let timer: unknown;
          let stopWaiting: () => void = () => {};
          const timedOut = new Promise<"max-duration">((resolve) => {
            if (Number.isFinite(maxConnectionDuration)) timer = timers.setTimeout(() => resolve("max-duration"), maxConnectionDuration);
            // At shutdown the client gets the 303 to the wait endpoint at once.
            stopWaiting = live.add({ redirect: () => resolve("max-duration"), end: () => resolve("max-duration") });
          });
          const first: ExecutionEnd | "max-duration" = await Promise.race([end, timedOut]);
          if (timer !== undefined) timers.clearTimeout(timer);
          stopWaiting();
          request.signal.removeEventListener("abort", disconnect);
          if (first !== "max-duration" && first.kind === "finished") return first.outcome.response;
          return new Response(null, { status: 303, headers: { location: url, [RUN_ID_HEADER]: run.runId } });
        }

        const body = createLogStream({
          store,
          runId: run.runId,
          after: undefined,
          metadata: { type: "metadata", runId: run.runId, protocolVersion: PROTOCOL_VERSION, resumeUrl: url },
          timers,
          keepAliveInterval,
          report,
          live,
          redirect: { url, onSwitch: (listener) => run.onSwitch(listener), maxDuration: maxConnectionDuration },
          ...(endpointOptions.cancelOnDisconnect === true ? { onCancel: disconnect } : {}),
        });
        return attachTextBody(new Response(body.stream, { status: 200, headers: eventStreamHeaders(run.runId) }), body.source);
      };
    },
    waitEndpoint(waitOptions = {}) {
      return createWaitEndpoint({
        store,
        timers,
        tokens,
        resumeTokenTtl,
        executor,
        keepAliveInterval,
        maxConnectionDuration,
        report,
        live,
        originOf: (request) => publicOrigin(request, trustProxy),
        ...waitOptions,
      });
    },
    async attach(endpointId, key, request) {
      if (typeof endpointId !== "string" || endpointId === "") {
        throw new InvalidOptionsError(
          `durable.attach(endpointId, key, request): endpointId must be the endpoint's id (a non-empty string), got ${String(endpointId)}.`,
        );
      }
      if (typeof key !== "string") throw new InvalidOptionsError(`durable.attach(endpointId, key, request): key must be a string, got ${typeof key}.`);
      if (typeof request !== "object" || request === null || typeof request.url !== "string") {
        throw new InvalidOptionsError("durable.attach(endpointId, key, request): request must be the incoming Request.");
      }
      const find = store.findActiveRunByKey;
      if (find === undefined) {
        throw new InvalidOptionsError(
          "durable.attach: this store does not support run keys (RunStore.findActiveRunByKey); MemoryRunStore, SqliteRunStore and RedisRunStore do.",
        );
      }
      if (!isRunKey(key)) return null;
      if (executor.closed)
        return unavailableResponse("This instance is shutting down; send the request again (another instance serves this run).", { connection: "close" });
      try {
        const runId = await find.call(store, endpointId, key);
        return runId === undefined ? null : await attachToRun(attachSettings, runId, request);
      } catch (error) {
        if (!(DurableError.isInstance(error) && error.code === "STORE_UNAVAILABLE")) throw error;
        report("long-poll", error);
        return unavailableResponse("The run store is unavailable right now; try again in a moment.");
      }
    },
    async send(event) {
      if (typeof event !== "object" || event === null || typeof event.name !== "string" || event.name === "") {
        throw new InvalidOptionsError('durable.send(event): event must be { name: string, data?: JSON }, e.g. { name: "order/paid", data: { orderId } }.');
      }
      return { woken: await executor.deliver(event) };
    },
    async cancel(runId, reason = DEFAULT_CANCEL_REASON) {
      if (typeof runId !== "string" || runId === "") {
        throw new InvalidOptionsError(`durable.cancel(runId, reason?): runId must be the run's id (a non-empty string), got ${String(runId)}.`);
      }
      if (typeof reason !== "string") throw new InvalidOptionsError(`durable.cancel(runId, reason?): reason must be a string, got ${String(reason)}.`);
      return executor.cancel(runId, reason);
    },
    close(closeOptions = {}) {
      const timeout = closeOptions.timeout ?? 10_000;
      if (typeof timeout !== "number" || !(timeout >= 0)) {
        throw new InvalidOptionsError(`durable.close: "timeout" must be milliseconds >= 0, got ${String(timeout)}.`);
      }
      closing ??= (async () => {
        await executor.shutdown(timeout);
        // Every run is handed over or finished: live connections read what is left of their log,
        // then follow a redirect (to another instance, or this one restarted).
        await live.shutdown(STREAM_GRACE, timers);
        try {
          await store.close?.();
        } catch (error) {
          report("shutdown", error);
        }
      })();
      return closing;
    },
  };
}

/** How long live connections get to read the rest of their log at shutdown, ms. */
const STREAM_GRACE = 2_000;

/**
 * A client's resume request (`GET`/`DELETE` of a resume URL: `<basePath>/<runId>?token=…`, or
 * `asyncRedirectUrl` with `runId` and `token`) that reached a durable endpoint instead of the wait
 * endpoint, as a catch-all route (`Bun.serve({ fetch: endpoint })`) sends it: answered with an
 * error that says what to mount, instead of starting another run. Null for any other request.
 */
function misroutedResume(request: Request, basePath: string, asyncRedirectUrl: DurableOptions["asyncRedirectUrl"]): Response | null {
  if (request.method !== "GET" && request.method !== "DELETE") return null;
  const url = new URL(request.url);
  const token = url.searchParams.get("token");
  if (token === null || !/^\d{1,12}\./.test(token)) return null;
  const waitPath =
    typeof asyncRedirectUrl === "string"
      ? new URL(asyncRedirectUrl, url).pathname === url.pathname && url.searchParams.has("runId")
      : asyncRedirectUrl === undefined && url.pathname.startsWith(`${basePath.replace(/\/+$/, "")}/`);
  if (!waitPath) return null;
  return new Response(
    `This is a request to resume a run (${request.method} ${url.pathname}?token=…), but it reached durable.endpoint(), which would start another run. Serve ${typeof asyncRedirectUrl === "string" ? asyncRedirectUrl : `${basePath}/<runId>`} with durable.waitEndpoint(), e.g. in a catch-all Bun.serve/Deno.serve fetch: url.pathname.startsWith("${basePath}/") ? wait(request) : endpoint(request).`,
    { status: 500, headers: { "content-type": "text/plain; charset=utf-8", "x-durastream-error": "WAIT_ENDPOINT_NOT_MOUNTED" } },
  );
}
