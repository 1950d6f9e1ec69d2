import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { InvalidOptionsError } from "@durastream/protocol";
import { describeValue } from "@durastream/protocol/internal";
import { createErrorReporter, type ErrorHandler, type ReportError } from "../background-errors.js";
import { takeTextBody, type TextBodySource } from "../text-body.js";
import { toWebRequest } from "./to-web-request.js";

/**
 * Options for {@link serveEndpoint} and {@link createEndpointServer}.
 *
 * @example
 * ```ts
 * import http from "node:http";
 * import { serveEndpoint, type ServeEndpointOptions } from "@durastream/server/node";
 *
 * const options: ServeEndpointOptions = {
 *   trustProxy: true,
 *   onError: ({ error, phase }) => console.error(`endpoint failed (${phase})`, error),
 * };
 * http.createServer(serveEndpoint(async () => new Response("ok"), options)).listen(3000);
 * ```
 */
export interface ServeEndpointOptions {
  /**
   * Behind a reverse proxy: takes host and protocol from X-Forwarded-Host / X-Forwarded-Proto
   * (the first value of each; a host name or address with an optional port, and `http` or
   * `https`; other values are ignored) instead of the request's own host and protocol. Only enable
   * it behind a proxy that sets both headers: clients can send them too. The same rules as
   * `createDurable({ trustProxy })` (forwarded-headers.ts). Here they make the URL of the Web
   * `Request`. Default false.
   */
  trustProxy?: boolean;
  /**
   * Receives `{ error, phase }`, the same shape as `createDurable({ onError })`: phase `handler`
   * for whatever the handler threw or rejected with (including a handler result that is not a
   * `Response`), phase `body` for errors a response body raises mid-stream. Errors that only echo
   * the client's disconnect (the `request.signal` reason) are not reported. Default:
   * `console.error`, at most once a minute per kind of error.
   */
  onError?: ErrorHandler;
}

type WebHandler = (request: Request) => Response | Promise<Response>;

const INTERNAL_ERROR_BODY = "Internal Server Error";
const BAD_REQUEST_BODY = "Bad Request";

function noop(): void {}

/**
 * Turns a Web handler `(request: Request) => Promise<Response>` into a Node `http` request
 * listener. Request bodies are streamed in and response bodies streamed out with backpressure;
 * `request.signal` aborts and the response body is cancelled when the client disconnects early.
 *
 * If the handler throws, `options.onError` is called and the client gets a plain
 * `500 Internal Server Error` (or a destroyed connection when headers were already sent).
 * Malformed requests that cannot become a Web `Request` (an invalid Host header, an
 * unsupported method such as TRACE) get `400 Bad Request` without calling the handler.
 *
 * @example
 * ```ts
 * import http from "node:http";
 * import { serveEndpoint } from "@durastream/server/node";
 *
 * const server = http.createServer(
 *   serveEndpoint(async (request) => new Response(`hello from ${new URL(request.url).pathname}`)),
 * );
 * server.listen(3000);
 * ```
 */
export function serveEndpoint(handler: WebHandler, options: ServeEndpointOptions = {}): RequestListener {
  if (typeof handler !== "function") {
    throw new InvalidOptionsError(
      `serveEndpoint(handler) expects a function \`(request: Request) => Promise<Response>\`, but received ${describeValue(handler)}. Pass your endpoint's request handler function.`,
    );
  }
  if (options === null || typeof options !== "object") {
    throw new InvalidOptionsError(
      `serveEndpoint(handler, options) expects options to be an object such as { trustProxy: true }, but received ${describeValue(options)}. Leave it out to use the defaults.`,
    );
  }
  const { onError } = options;
  if (onError !== undefined && typeof onError !== "function") {
    throw new InvalidOptionsError(
      `serveEndpoint options.onError must be a function \`({ error, phase }) => void\`, but received ${describeValue(onError)}. Leave it out to log errors with console.error.`,
    );
  }
  const trustProxy = options.trustProxy === true;
  const report = createErrorReporter(onError, Date.now);

  return (incoming, outgoing) => {
    handle(incoming, outgoing, handler, trustProxy, report).catch(() => {
      // Every expected failure is handled inside; this only guards against the unexpected.
      outgoing.destroy();
    });
  };
}

async function handle(incoming: IncomingMessage, outgoing: ServerResponse, handler: WebHandler, trustProxy: boolean, report: ReportError): Promise<void> {
  const abortController = new AbortController();
  const { signal } = abortController;
  let activeReader: ReadableStreamDefaultReader<unknown> | undefined;
  let activeSource: TextBodySource | undefined;

  const onDisconnect = (): void => {
    if (signal.aborted || outgoing.writableFinished) return;
    abortController.abort(new DOMException("The client disconnected before the response finished.", "AbortError"));
    activeReader?.cancel(signal.reason).catch(noop);
    activeSource?.cancel(signal.reason);
  };
  outgoing.once("close", onDisconnect);
  incoming.once("close", () => {
    if (!incoming.complete) onDisconnect();
  });

  let request: Request | undefined;
  try {
    request = toWebRequest(incoming, outgoing, signal, trustProxy);
  } catch {
    if (!signal.aborted) sendPlainText(outgoing, 400, BAD_REQUEST_BODY);
    return;
  }

  let response: Response | undefined;
  let reader: ReadableStreamDefaultReader<unknown> | undefined;
  let source: TextBodySource | undefined;
  try {
    const handled = handler(request);
    // Not kept while the body streams: a long stream should not hold the request's headers and signal.
    request = undefined;
    response = await handled;
    if (!isResponse(response)) {
      throw new TypeError(`The endpoint handler resolved with ${describeValue(response)} instead of a Response. Return a Web \`Response\` from the handler.`);
    }
    if (signal.aborted) {
      response.body?.cancel(signal.reason).catch(noop);
      return;
    }
    const method = incoming.method;
    const status = response.status;
    const hasBody = response.body !== null && method !== "HEAD" && status !== 204 && status !== 304;
    // The engine's SSE bodies are written as text straight to the socket, skipping the Web stream.
    if (hasBody) source = takeTextBody(response);
    if (hasBody && source === undefined) reader = (response.body as ReadableStream<unknown>).getReader();
    writeHead(outgoing, response);
    if (!hasBody) {
      outgoing.end();
      response.body?.cancel().catch(noop);
      return;
    }
  } catch (error) {
    if (!(signal.aborted && error === signal.reason)) report("handler", error);
    reader?.cancel(error).catch(noop);
    source?.cancel(error);
    if (signal.aborted) return;
    if (!outgoing.headersSent && !outgoing.destroyed) {
      for (const name of outgoing.getHeaderNames()) outgoing.removeHeader(name);
      sendPlainText(outgoing, 500, INTERNAL_ERROR_BODY);
    } else {
      outgoing.destroy();
    }
    return;
  }

  // Only the reader or the source is needed from here on; the Response (headers, a Web body left
  // unread on the text path) is not kept while a long stream runs.
  response = undefined;
  if (reader === undefined && source === undefined) return;
  outgoing.flushHeaders();
  activeReader = reader;
  activeSource = source;
  try {
    await (source === undefined ? pump(reader!, outgoing, signal) : pumpText(source, outgoing, signal));
  } catch (error) {
    if (signal.aborted) return;
    report("body", error);
    reader?.cancel(error).catch(noop);
    source?.cancel(error);
    outgoing.destroy();
  } finally {
    activeReader = undefined;
    activeSource = undefined;
  }
}

/** Has the source write its pieces straight to the socket; settles when the body is done. */
function pumpText(source: TextBodySource, outgoing: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const resume = (): void => source.resume();
    const settle = (): void => {
      outgoing.off("drain", resume);
      outgoing.off("close", resolve);
    };
    outgoing.on("drain", resume);
    // A disconnect cancels the source (see onDisconnect), which then sends nothing more.
    outgoing.once("close", resolve);
    source.start({
      write: (text) => outgoing.write(text),
      end() {
        settle();
        if (!signal.aborted) outgoing.end();
        resolve();
      },
      error(error) {
        settle();
        reject(error);
      },
    });
  });
}

async function pump(reader: ReadableStreamDefaultReader<unknown>, outgoing: ServerResponse, signal: AbortSignal): Promise<void> {
  for (;;) {
    const result = await reader.read();
    if (result.done || signal.aborted) break;
    // Uint8Array and string chunks go to the socket as they are, without a Buffer copy.
    if (!outgoing.write(result.value as Uint8Array | string)) {
      await waitForDrain(outgoing);
      if (signal.aborted) break;
    }
  }
  if (!signal.aborted) outgoing.end();
}

function waitForDrain(outgoing: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      outgoing.off("drain", done);
      outgoing.off("close", done);
      resolve();
    };
    outgoing.on("drain", done);
    outgoing.on("close", done);
  });
}

function writeHead(outgoing: ServerResponse, response: Response): void {
  outgoing.statusCode = response.status;
  if (response.statusText) outgoing.statusMessage = response.statusText;
  const headers = response.headers;
  for (const [name, value] of headers) {
    if (name !== "set-cookie") outgoing.setHeader(name, value);
  }
  const cookies = typeof headers.getSetCookie === "function" ? headers.getSetCookie() : (headers.get("set-cookie")?.split(/,(?=\s*[^;,\s]+=)/) ?? []);
  if (cookies.length > 0) outgoing.setHeader("set-cookie", cookies);
}

function sendPlainText(outgoing: ServerResponse, status: number, body: string): void {
  outgoing.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
  });
  outgoing.end(body);
}

function isResponse(value: unknown): value is Response {
  if (value instanceof Response) return true;
  if (value === null || typeof value !== "object") return false;
  const candidate = value as Partial<Response>;
  return typeof candidate.status === "number" && typeof candidate.headers === "object" && candidate.headers !== null && "body" in candidate;
}
