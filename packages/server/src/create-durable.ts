import { EVENT_STREAM_CONTENT_TYPE, PROTOCOL_VERSION, RUN_ID_HEADER } from "@durastream/protocol";
import { ulid } from "ulid";
import { DurableRun, type DurableHandler } from "./durable-run.js";
import { DurableError } from "./errors.js";
import { createLogStream } from "./log-stream.js";
import { resolveRetryPolicy, type Backoff } from "./retry-policy.js";
import { MemoryRunStore } from "./store/memory-store.js";
import type { RunStore } from "./store/run-store.js";
import { systemTimers, type Timers } from "./timers.js";

/** Options of `createDurable`. */
export interface DurableOptions {
  /** Where runs live. Default: a `MemoryRunStore` of this process. */
  store?: RunStore;
  /** Default retries per step for every endpoint, 0 to 20. Default 3. */
  retries?: number;
  /** Default backoff between step attempts. Default: exponential from 1 s, factor 2, up to 30 s, ±20 % jitter. */
  backoff?: Backoff;
  /** Milliseconds of silence on an SSE connection before a keep-alive comment. Default 15000. */
  keepAliveInterval?: number;
  /** Clock and timers (backoff, keep-alives); tests inject their own. */
  timers?: Timers;
}

/** Options of one endpoint. */
export interface EndpointOptions {
  /** The endpoint's id, stored with its runs. Default: `METHOD /path` of the request. */
  id?: string;
  /** Retries per step, 0 to 20; overrides `createDurable`'s. */
  retries?: number;
  /** Backoff between step attempts; overrides `createDurable`'s. */
  backoff?: Backoff;
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
   * frame holding the handler's response. Any other request gets the handler's own Response.
   *
   * @example
   * ```ts
   * export const POST = durable.endpoint(async (request, { step, stream }) => {
   *   const { prompt } = await request.json();
   *   const answer = await step.run("answer", () => stream.pipe(model.stream(prompt)));
   *   return Response.json({ answer });
   * });
   * ```
   */
  endpoint(handler: DurableHandler, options?: EndpointOptions): WebHandler;
}

/**
 * Creates the durable toolkit: `durable.endpoint(handler)` turns Web handlers into durable,
 * streaming endpoints.
 *
 * @example
 * ```ts
 * import { createDurable, step, stream } from "@durastream/server";
 *
 * const durable = createDurable({ retries: 2 });
 * export const GET = durable.endpoint(async () => {
 *   const text = await step.run("greet", () => stream.pipe(words("Hello there")));
 *   return Response.json({ text });
 * });
 * ```
 */
export function createDurable(options: DurableOptions = {}): Durable {
  if (typeof options !== "object" || options === null) {
    throw new DurableError("INVALID_OPTIONS", "createDurable(options): options must be an object or omitted.");
  }
  const { store = new MemoryRunStore(), timers = systemTimers, keepAliveInterval = 15_000 } = options;
  if (!Number.isFinite(keepAliveInterval) || keepAliveInterval <= 0) {
    throw new DurableError(
      "INVALID_OPTIONS",
      `createDurable: "keepAliveInterval" must be a number of milliseconds > 0, got ${String(keepAliveInterval)}.`,
    );
  }
  const durableDefaults = { retries: options.retries, backoff: options.backoff };
  resolveRetryPolicy("createDurable", durableDefaults);

  return {
    store,
    endpoint(handler, endpointOptions = {}) {
      if (typeof handler !== "function") {
        throw new DurableError("INVALID_OPTIONS", "durable.endpoint(handler): handler must be a function (request, context) => Response.");
      }
      if (endpointOptions.id !== undefined && (typeof endpointOptions.id !== "string" || endpointOptions.id === "")) {
        throw new DurableError("INVALID_OPTIONS", 'durable.endpoint: "id" must be a non-empty string.');
      }
      const endpointDefaults = { retries: endpointOptions.retries, backoff: endpointOptions.backoff };
      resolveRetryPolicy("durable.endpoint", durableDefaults, endpointDefaults);

      return async (request: Request): Promise<Response> => {
        const runId = ulid();
        const endpointId = endpointOptions.id ?? `${request.method} ${new URL(request.url).pathname}`;
        await store.createRun({ runId, endpointId, createdAt: timers.now() });
        const run = new DurableRun(runId, {
          store,
          timers,
          retryPolicy: [durableDefaults, endpointDefaults],
          where: `durable.endpoint(${endpointId})`,
        });
        const disconnect = () => run.cancel("The client disconnected, so the run was cancelled.");

        if (!acceptsEventStream(request)) {
          request.signal.addEventListener("abort", disconnect, { once: true });
          const outcome = await run.execute(handler, request, true);
          request.signal.removeEventListener("abort", disconnect);
          return outcome.response;
        }

        const body = createLogStream({
          store,
          runId,
          after: undefined,
          metadata: { type: "metadata", runId, protocolVersion: PROTOCOL_VERSION, resumeUrl: null },
          timers,
          keepAliveInterval,
          onCancel: disconnect,
        });
        void run.execute(handler, request, false);
        return new Response(body, {
          status: 200,
          headers: {
            "content-type": `${EVENT_STREAM_CONTENT_TYPE}; charset=utf-8`,
            "cache-control": "no-cache, no-transform",
            "x-accel-buffering": "no",
            [RUN_ID_HEADER]: runId,
          },
        });
      };
    },
  };
}

/** Whether the request asks for an SSE stream (`Accept` lists `text/event-stream` with q > 0). */
export function acceptsEventStream(request: Request): boolean {
  const accept = request.headers.get("accept");
  if (accept === null) return false;
  for (const range of accept.split(",")) {
    const [type = "", ...parameters] = range.split(";");
    if (type.trim().toLowerCase() !== EVENT_STREAM_CONTENT_TYPE) continue;
    const quality = parameters.find((parameter) => parameter.trim().toLowerCase().startsWith("q="));
    if (quality === undefined || Number(quality.trim().slice(2)) > 0) return true;
  }
  return false;
}
