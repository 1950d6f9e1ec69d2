import { InvalidOptionsError, parseOffset, PROTOCOL_VERSION, ProtocolError, responseFromSnapshot, RUN_ID_HEADER } from "@durastream/protocol";
import type { ReportError } from "./background-errors.js";
import { acceptsEventStream, eventStreamHeaders } from "./event-stream.js";
import { DurableError } from "./errors.js";
import type { Executor } from "./executor.js";
import { createLogStream, type LiveStreams } from "./log-stream.js";
import { attachTextBody } from "./text-body.js";
import { unavailableResponse } from "./unavailable-response.js";
import type { ResumeTokens } from "./resume-token.js";
import type { RunStore, RunSummary } from "./store/run-store.js";
import { readRunSummary } from "./store/run-summary.js";
import { waitForRunResult } from "./run-result-wait.js";
import type { Timers } from "./timers.js";

/** Cross-origin access to the wait endpoint, for clients on another origin. */
export interface CorsOptions {
  /** Allowed origins: one, a list, or `"*"` (any; not with credentials). */
  origin: string | readonly string[];
  /** Allow cookies and auth headers (`Access-Control-Allow-Credentials`). Default false. */
  credentials?: boolean;
}

/** Options of `durable.waitEndpoint()`. */
export interface WaitEndpointOptions {
  /** How long a request without `Accept: text/event-stream` waits for the run to end before a 202, ms. Default 25 000. */
  waitTimeout?: number;
  /** CORS for cross-origin clients. Default: same-origin only (no CORS headers). */
  cors?: CorsOptions;
}

interface WaitEndpointSettings extends WaitEndpointOptions {
  readonly store: RunStore;
  readonly timers: Timers;
  readonly tokens: ResumeTokens;
  /** How long a token handed out here stays valid, ms (`resumeTokenTtl`): each request gets a fresh one. */
  readonly resumeTokenTtl: number;
  readonly executor: Executor;
  readonly keepAliveInterval: number;
  readonly maxConnectionDuration: number;
  /** The origin the client used (see `trustProxy`), for the URLs the wait endpoint hands out. */
  readonly originOf: (request: Request) => string;
  readonly report: ReportError;
  /** Live connections and waiting long-polls, redirected at shutdown. */
  readonly live: LiveStreams;
}

/** The reason of a cancel through the wait endpoint (`DELETE <resumeUrl>`): the cancelled run's result body. */
const CANCEL_REASON = "The run was cancelled through its resume URL.";

/** Builds the wait endpoint; see `Durable.waitEndpoint`. */
export function createWaitEndpoint(settings: WaitEndpointSettings): (request: Request) => Promise<Response> {
  const { store, timers, tokens, resumeTokenTtl, executor, keepAliveInterval, maxConnectionDuration, cors, originOf, report, live } = settings;
  const waitTimeout = settings.waitTimeout ?? 25_000;
  if (typeof waitTimeout !== "number" || !(waitTimeout >= 0)) {
    throw new InvalidOptionsError(`durable.waitEndpoint: "waitTimeout" must be milliseconds >= 0, got ${String(waitTimeout)}.`);
  }
  if (cors !== undefined && (cors.origin === "*" || (Array.isArray(cors.origin) && cors.origin.includes("*"))) && cors.credentials === true) {
    throw new InvalidOptionsError('durable.waitEndpoint: cors.origin "*" cannot be combined with credentials; list the allowed origins.');
  }

  const corsHeaders = (request: Request): Record<string, string> => {
    const origin = request.headers.get("origin");
    if (cors === undefined || origin === null) return {};
    const allowed = cors.origin === "*" || (typeof cors.origin === "string" ? cors.origin === origin : cors.origin.includes(origin));
    if (!allowed) return {};
    return {
      "access-control-allow-origin": cors.origin === "*" ? "*" : origin,
      "access-control-expose-headers": `${RUN_ID_HEADER}, location, retry-after`,
      vary: "origin",
      ...(cors.credentials === true ? { "access-control-allow-credentials": "true" } : {}),
    };
  };

  return async (request) => {
    if (request.method === "OPTIONS") {
      const headers = corsHeaders(request);
      if (Object.keys(headers).length === 0) return new Response(null, { status: 204 });
      return new Response(null, {
        status: 204,
        headers: {
          ...headers,
          "access-control-allow-methods": "GET, DELETE, OPTIONS",
          "access-control-allow-headers": "accept, last-event-id",
          "access-control-max-age": "600",
        },
      });
    }
    if (request.method !== "GET" && request.method !== "HEAD" && request.method !== "DELETE") {
      return new Response("The wait endpoint answers GET requests (and DELETE, which cancels the run).", {
        status: 405,
        headers: { allow: "GET, DELETE, OPTIONS", ...corsHeaders(request) },
      });
    }
    // Shutting down: the client retries, and a load balancer sends it to another instance.
    // `connection: close`: a pooled keep-alive connection must not keep retrying against this process.
    if (executor.closed)
      return unavailableResponse("This instance is shutting down; try again (another instance serves this run).", {
        ...corsHeaders(request),
        connection: "close",
      });
    const requestUrl = new URL(request.url);
    const url = new URL(`${requestUrl.pathname}${requestUrl.search}`, originOf(request));
    const runId = url.searchParams.get("runId") ?? url.pathname.split("/").filter(Boolean).at(-1) ?? "";
    // Not `getRun`: the wait endpoint needs the run's status and result, never its request.
    let record: RunSummary | undefined;
    try {
      record = (await tokens.verify(runId, url.searchParams.get("token"), timers.now())) ? await readRunSummary(store, runId) : undefined;
    } catch (error) {
      if (!(DurableError.isInstance(error) && error.code === "STORE_UNAVAILABLE")) throw error;
      report("long-poll", error, runId);
      return unavailableResponse("The run store is unavailable right now; try again in a moment.", corsHeaders(request));
    }
    // A bad, expired or foreign token gets exactly the answer an unknown run gets.
    if (record === undefined) {
      return Response.json({ error: "Unknown run, or its resume URL is invalid or has expired." }, { status: 404, headers: corsHeaders(request) });
    }
    if (request.method === "DELETE") return cancel(request, record);
    // Sliding expiry: every URL this answer hands out (metadata, redirect frame, 202 Location)
    // carries a token valid for another `resumeTokenTtl`, so a client that comes back within the
    // TTL with the latest URL keeps access to a run that outlives any single token.
    url.searchParams.set("token", await tokens.sign(runId, timers.now() + resumeTokenTtl));
    // A wait endpoint request is also a chance to run what is due (serverless hosts have no timers).
    if (record.status === "suspended" || record.status === "running") void executor.resume(runId).catch(() => {});

    if (!acceptsEventStream(request)) return longPoll(request, record, url);

    let after = request.headers.get("last-event-id") ?? url.searchParams.get("offset") ?? undefined;
    if (after === "") after = undefined;
    if (after !== undefined) {
      try {
        parseOffset(after);
      } catch (error) {
        if (!ProtocolError.isInstance(error)) throw error;
        return new Response(`${error.message} Resume with the id of the last frame you received, or without one to read the whole log.`, {
          status: 400,
          headers: { "content-type": "text/plain; charset=utf-8", ...corsHeaders(request) },
        });
      }
    }
    url.searchParams.delete("offset");
    const resumeUrl = url.href;
    const body = createLogStream({
      store,
      runId,
      after,
      metadata: { type: "metadata", runId, protocolVersion: PROTOCOL_VERSION, resumeUrl },
      timers,
      keepAliveInterval,
      report,
      live,
      redirect: { url: resumeUrl, maxDuration: maxConnectionDuration },
    });
    return attachTextBody(new Response(body.stream, { status: 200, headers: { ...eventStreamHeaders(runId), ...corsHeaders(request) } }), body.source);
  };

  /**
   * `DELETE <resumeUrl>`: cancels the run (`durable.cancel`); 204 once the cancel is stored, 404
   * when the run is over already (or was ended meanwhile), as for an unknown run.
   */
  async function cancel(request: Request, record: RunSummary): Promise<Response> {
    const gone = () => Response.json({ error: "The run is over already (or unknown)." }, { status: 404, headers: corsHeaders(request) });
    if (record.status === "succeeded" || record.status === "failed") return gone();
    let cancelled: boolean;
    try {
      cancelled = await executor.cancel(record.runId, CANCEL_REASON);
    } catch (error) {
      // Said to the client (it may retry), not a background error.
      if (!(DurableError.isInstance(error) && error.code === "STORE_UNAVAILABLE")) throw error;
      return unavailableResponse("The run store is unavailable right now; the run was not cancelled. Try again in a moment.", corsHeaders(request));
    }
    return cancelled ? new Response(null, { status: 204, headers: { [RUN_ID_HEADER]: record.runId, ...corsHeaders(request) } }) : gone();
  }

  /**
   * Waits up to `waitTimeout` for the run to end; its stored response, or 202 while it goes on.
   * Re-reads the run after appends to it, without its request (`getRunSummary`: a 1 MB body is
   * not read once per chunk), and with at most one read in flight: appends during a read get one
   * more read after it.
   */
  async function longPoll(request: Request, record: RunSummary, url: URL): Promise<Response> {
    const current = await waitForRunResult({ store, timers, report, live }, record, request.signal, waitTimeout);
    if (current?.result !== undefined) {
      // The stored bytes as the handler sent them, `content-encoding` included: the HTTP client
      // decodes them, exactly as for the endpoint's own (non-SSE) answer.
      const response = responseFromSnapshot(current.result, { decode: false });
      for (const [name, value] of Object.entries(corsHeaders(request))) response.headers.set(name, value);
      return response;
    }
    // The Location to poll again, with a token fresh from the end of this wait.
    url.searchParams.set("token", await tokens.sign(record.runId, timers.now() + resumeTokenTtl));
    return Response.json(
      { runId: record.runId, status: current?.status ?? record.status },
      {
        status: 202,
        headers: { location: url.href, "retry-after": "1", [RUN_ID_HEADER]: record.runId, ...corsHeaders(request) },
      },
    );
  }
}
