import { fetchWithStream, type FetchFunction } from "@durastream/client";
import { acceptsEventStream, InvalidOptionsError, type WebHandler } from "@durastream/server";
import { UI_MESSAGE_STREAM_HEADERS } from "ai";
import { UIChunkProjection } from "./ui-chunk-projection.js";
import { createUIMessageSseWriter, pacedResponse, type UIMessageSseWriter } from "./ui-message-sse.js";

/** Why a chat answer ended without a result, as given to {@link UIMessageStreamHandlerOptions.errorText}. */
export interface ChatStreamFailure {
  /**
   * What went wrong: the failed run's error message (the body of its `500`, e.g. `Step "llm:0"
   * failed after 3 attempts: …`), the body of a non-2xx response the handler returned itself, or
   * the message of the error that stopped reading the run's stream.
   */
  readonly message: string;
  /** The status of the run's final response; `undefined` when reading the stream failed. */
  readonly status: number | undefined;
  /** The run's id, once known. */
  readonly runId: string | undefined;
  /** The error that stopped reading the run's stream (a `DurableClientError`), if that is what happened. */
  readonly cause?: unknown;
}

/** Options of {@link uiMessageStreamHandler}. */
export interface UIMessageStreamHandlerOptions {
  /**
   * The wait endpoint of the same `createDurable` (`durable.waitEndpoint()`). When the run goes to
   * the background (a long retry backoff, a sleep) or a connection drops, the projection reads on
   * from the wait endpoint's URLs by calling this handler in-process: no network hop, and it need
   * not be reachable from here. Without it, those URLs are fetched over the network with
   * `globalThis.fetch` (the wait endpoint must then be mounted where they point).
   */
  waitEndpoint?: WebHandler;
  /**
   * Sends an SSE comment (`: keep-alive`) to the stock client after this many milliseconds without
   * output, so proxies keep the connection open while the run waits. Default 15 000 (the
   * durable endpoint's own `keepAliveInterval` default).
   */
  keepAliveInterval?: number;
  /**
   * The `errorText` of the `error` chunk sent when the answer fails for good (the client's chat goes
   * to `status: "error"` with it). Default: `failure.message`, which may carry provider error
   * details; return a generic text (e.g. `"An error occurred."`, the AI SDK's default) to hide them.
   */
  errorText?: (failure: ChatStreamFailure) => string;
}

const DEFAULT_KEEP_ALIVE_INTERVAL = 15_000;
/**
 * The response header of a UI message stream that carries the run's resume URL (with its token),
 * for a stop button: `cancelRun(url)` from `@durastream/client` cancels the run with it.
 */
const RESUME_URL_HEADER = "x-durastream-resume-url";
/** Hop-by-hop and length headers of the incoming request, which the in-process request must not copy. */
const DROPPED_HEADERS = ["content-length", "transfer-encoding", "connection", "keep-alive"];

function validate(endpoint: unknown, options: UIMessageStreamHandlerOptions): void {
  const invalid = (message: string): never => {
    throw new InvalidOptionsError(`uiMessageStreamHandler: ${message}`);
  };
  if (typeof endpoint !== "function") invalid('pass the durable endpoint, e.g. uiMessageStreamHandler(durable.endpoint(handler, { id: "chat" })).');
  if (typeof options !== "object" || options === null) invalid("options must be an object or omitted.");
  if (options.waitEndpoint !== undefined && typeof options.waitEndpoint !== "function") invalid('"waitEndpoint" must be durable.waitEndpoint().');
  const { keepAliveInterval } = options;
  if (keepAliveInterval !== undefined && (typeof keepAliveInterval !== "number" || !(keepAliveInterval >= 1))) {
    invalid(`"keepAliveInterval" must be milliseconds >= 1, got ${String(keepAliveInterval)}.`);
  }
  if (options.errorText !== undefined && typeof options.errorText !== "function") invalid('"errorText" must be a function (failure) => string.');
}

/**
 * Serves a durable chat endpoint (a `durable.endpoint` whose handler returns `durableChat(…)`) to
 * stock AI SDK clients and to Durastream clients on the same route.
 *
 * - A request whose `Accept` lists `text/event-stream` (every Durastream client: `fetchWithStream`,
 *   `resumeStream`, `createDurableStream` always send it) gets the durable endpoint's own response:
 *   the Durastream protocol, unchanged.
 * - Any other request (the AI SDK's `DefaultChatTransport` sends `Accept: *\/*`) gets the AI SDK's
 *   UI message stream protocol (`data: {json}` per chunk, `data: [DONE]` at the end,
 *   `UI_MESSAGE_STREAM_HEADERS` plus `x-durastream-run-id`). The run's stream is read in this
 *   process with `fetchWithStream` (redirects to the wait endpoint, reconnects and resumes are
 *   followed by it; the client's one connection stays open meanwhile, with keep-alive comments),
 *   and projected: each UI message chunk is forwarded as it arrives (uncommitted, so the client
 *   renders live); commits are invisible; the rollback of a model call that streamed becomes
 *   `{"type":"reset-step"}` (the client removes that step's parts; the retry's `start-step` is
 *   dropped, as the `step-start` part survived); a run that fails for good ends with one
 *   `{"type":"error","errorText"}` — never a failure that will be retried. A response that is not
 *   a stream (a `413`, a `503` while shutting down) is returned as it came.
 *
 * The client disconnecting stops only this read: the run goes on (unless the endpoint has
 * `cancelOnDisconnect`). Requires `ai >= 7.0.70` on the client (`reset-step`).
 *
 * Stop: the stock `chat.stop()` only closes the connection (as a reload does), so the run goes
 * on. The UI message stream response carries the run's resume URL in the
 * `x-durastream-resume-url` header (next to `x-durastream-run-id`); a stop button calls
 * `chat.stop()` and `cancelRun(resumeUrl)` (`@durastream/client`; the wait endpoint must be
 * mounted for `DELETE`), which ends the run for good: the model call's signal aborts, nothing
 * more is committed. Read the header with the transport's `fetch` option:
 *
 * ```ts
 * let resumeUrl: string | null = null;
 * const transport = new DefaultChatTransport({
 *   fetch: async (input, init) => {
 *     const response = await fetch(input, init);
 *     resumeUrl = response.headers.get("x-durastream-resume-url") ?? resumeUrl;
 *     return response;
 *   },
 * });
 * const stop = async () => {
 *   await chat.stop();
 *   if (resumeUrl !== null) await cancelRun(resumeUrl);
 * };
 * ```
 *
 * @example
 * ```ts
 * // app/api/chat/route.ts — the client stays `useChat()` with its default transport
 * import { durableChat, uiMessageStreamHandler } from "@durastream/ai";
 * import { durable } from "@/lib/durable";
 *
 * const chat = durable.endpoint(
 *   async (request) => {
 *     const { messages } = await request.json();
 *     return durableChat({ model, messages });
 *   },
 *   { id: "chat" },
 * );
 * export const POST = uiMessageStreamHandler(chat, { waitEndpoint: durable.waitEndpoint() });
 * ```
 */
export function uiMessageStreamHandler(endpoint: WebHandler, options: UIMessageStreamHandlerOptions = {}): WebHandler {
  validate(endpoint, options);
  return async (request) => (acceptsEventStream(request) ? endpoint(request) : projectUIMessageStream(endpoint, request, options));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The UI message stream of the durable stream `endpoint` answers `request` with (the request's
 * method, headers and body are sent to it in-process, as a Durastream client would send them): the
 * projection described at {@link uiMessageStreamHandler}. A response that is not a durable stream
 * is returned as it came. Also used by `uiMessageResumeHandler`, whose "endpoint" attaches to a run.
 */
export async function projectUIMessageStream(endpoint: WebHandler, request: Request, options: UIMessageStreamHandlerOptions): Promise<Response> {
  const { waitEndpoint } = options;
  const errorText = (failure: ChatStreamFailure): string => {
    try {
      return options.errorText === undefined ? failure.message : String(options.errorText(failure));
    } catch {
      return failure.message;
    }
  };
  // The stock client's body goes to the endpoint as a stream, not read here first: the endpoint
  // enforces its body limit (413) without this handler having buffered the whole body.
  const body = request.method === "GET" || request.method === "HEAD" ? null : request.body;
  const headers = new Headers(request.headers);
  for (const name of DROPPED_HEADERS) headers.delete(name);

  // Aborted when the stock client goes away (its request's signal, or the body is cancelled).
  const reading = new AbortController();
  const abort = (): void => reading.abort(request.signal.reason);
  if (request.signal.aborted) abort();
  else request.signal.addEventListener("abort", abort, { once: true });

  const writer: UIMessageSseWriter = createUIMessageSseWriter({
    keepAliveInterval: options.keepAliveInterval ?? DEFAULT_KEEP_ALIVE_INTERVAL,
    onCancel: (reason) => reading.abort(reason),
  });
  // The first call starts the run at the endpoint; every later one (a redirect, a reconnect) reads
  // the wait endpoint's URLs. Each stream is read at the stock client's pace.
  let firstCall = true;
  const fetchInProcess: FetchFunction = async (input, init) => {
    if (firstCall) {
      firstCall = false;
      const first = body === null ? new Request(input, init) : new Request(input, { ...init, body, duplex: "half" } as RequestInit);
      return pacedResponse(await endpoint(first), writer);
    }
    return pacedResponse(await (waitEndpoint === undefined ? fetch(input, init) : waitEndpoint(new Request(input, init))), writer);
  };
  const projection = new UIChunkProjection((chunk) => writer.write(chunk));
  let runId: string | undefined;
  let resumeUrl: string | undefined;
  let failed = false;
  let streaming!: () => void;
  const started = new Promise<"streaming">((resolve) => {
    streaming = () => resolve("streaming");
  });
  const done = fetchWithStream(request.url, {
    fetch: fetchInProcess,
    fetchOpts: { method: request.method, headers, signal: reading.signal },
    onMetadata: (metadata) => {
      runId ??= metadata.runId;
      resumeUrl ??= metadata.resumeUrl ?? undefined;
      streaming();
    },
    onData: ({ hashedStepId, data }) => projection.data(hashedStepId, data),
    onCommit: ({ hashedStepId }) => projection.commit(hashedStepId),
    onRollback: ({ hashedStepId, willRetry }) => projection.rollback(hashedStepId, willRetry),
    onResult: ({ status }) => {
      failed = status === "failed";
    },
  });
  const settled = done.then(
    (response) => ({ response }),
    (error: unknown) => ({ error }),
  );

  const first = await Promise.race([started, settled]);
  if (first !== "streaming") {
    // Ended before the run's stream began: not a durable stream (413, 503, …), or the endpoint threw.
    writer.close();
    request.signal.removeEventListener("abort", abort);
    if ("error" in first) throw first.error;
    return first.response;
  }

  void settled
    .then(async (outcome) => {
      request.signal.removeEventListener("abort", abort);
      if ("error" in outcome) {
        if (reading.signal.aborted) return writer.close(); // the client went away
        writer.write({ type: "error", errorText: errorText({ message: messageOf(outcome.error), status: undefined, runId, cause: outcome.error }) });
        return writer.end();
      }
      const { response } = outcome;
      if (failed || !response.ok) {
        const text = await response.text().catch(() => "");
        const message = text.trim() === "" ? `The chat run ended with HTTP ${response.status}.` : text;
        writer.write({ type: "error", errorText: errorText({ message, status: response.status, runId }) });
      } else {
        await response.body?.cancel().catch(() => {});
      }
      writer.end();
    })
    // Whatever fails while ending the body (a throwing errorText, a reader already gone) only ends it.
    .catch(() => writer.close());

  return new Response(writer.body, {
    status: 200,
    headers: {
      ...UI_MESSAGE_STREAM_HEADERS,
      ...(runId === undefined ? {} : { "x-durastream-run-id": runId }),
      ...(resumeUrl === undefined ? {} : { [RESUME_URL_HEADER]: resumeUrl }),
    },
  });
}
