import type { IncomingMessage, ServerResponse } from "node:http";
import { nodeBodyAlreadyReadError } from "../body-already-read.js";
import { readForwarded } from "../forwarded-headers.js";

type DuplexRequestInit = RequestInit & { duplex: "half" };

const REQUEST_BODY_HIGH_WATER_MARK = 64 * 1024;

// Host header characters: reg-name, IPv4, bracketed IPv6 and a port. Excludes "@", "/", "?", "#"
// and "\" so a hostile Host header cannot move the path or smuggle userinfo into the URL.
const VALID_HOST = /^[\w.~%!$&'()*+,;=:[\]-]+$/;

/**
 * Converts a Node request into a Web `Request` whose body streams from the socket and whose
 * `signal` is the given one. Throws a `TypeError` when the request cannot be represented (an
 * invalid Host header, a method the Fetch standard forbids).
 */
export function toWebRequest(incoming: IncomingMessage, outgoing: ServerResponse, signal: AbortSignal, trustProxy: boolean): Request {
  const url = requestUrl(incoming, trustProxy);
  const method = incoming.method ?? "GET";
  const headers = new Headers();
  const raw = incoming.rawHeaders;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index] as string;
    // HTTP/2 compatibility pseudo-headers (":path") are not valid Web header names.
    if (name.charCodeAt(0) !== 58) headers.append(name, raw[index + 1] as string);
  }
  const init: DuplexRequestInit = { method, headers, signal, duplex: "half" };
  if (method !== "GET" && method !== "HEAD" && mayHaveBody(incoming)) {
    // A body parser that ran first (express.json(), Fastify's) has read the stream to its end, or
    // is reading it: the body is not there to stream, and waiting for it would end in "the client
    // disconnected". The body fails at once with an error that says so.
    init.body = incoming.readableEnded || (incoming.readableDidRead && !incoming.destroyed) ? consumedBodyStream() : requestBodyStream(incoming, outgoing);
  }
  return new Request(url, init);
}

function requestUrl(incoming: IncomingMessage, trustProxy: boolean): string {
  const socket = incoming.socket as IncomingMessage["socket"] & { encrypted?: boolean };
  // With trustProxy, the forwarded host and protocol (when valid) stand in for Host and the socket's.
  const forwarded = trustProxy ? readForwarded((name) => incoming.headers[name]) : undefined;
  const protocol = forwarded?.protocol ?? (socket.encrypted === true ? "https" : "http");

  let host = forwarded?.host ?? incoming.headers.host;
  if (host === undefined || host === "") {
    const address = socket.localAddress ?? "localhost";
    const hostname = address.includes(":") ? `[${address}]` : address;
    host = socket.localPort === undefined ? hostname : `${hostname}:${socket.localPort}`;
  } else if (!VALID_HOST.test(host)) {
    throw new TypeError(`Invalid Host header: ${host}`);
  }

  // Express (and Connect) strip a router's mount path from `url` (`app.use("/api", router)`) and keep
  // the request target as the client sent it in `originalUrl`: the Web Request gets the whole path.
  const originalUrl = (incoming as IncomingMessage & { originalUrl?: unknown }).originalUrl;
  let path = typeof originalUrl === "string" && originalUrl !== "" ? originalUrl : (incoming.url ?? "/");
  if (path.charCodeAt(0) !== 47) {
    // Absolute-form request target ("GET http://example.com/a HTTP/1.1"): keep its path and query.
    const absolute = new URL(path);
    path = absolute.pathname + absolute.search;
  }
  return `${protocol}://${host}${path}`;
}

function mayHaveBody(incoming: IncomingMessage): boolean {
  const headers = incoming.headers;
  if (headers["transfer-encoding"] !== undefined) return true;
  const length = headers["content-length"];
  return length !== undefined && length !== "0";
}

function consumedBodyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.error(nodeBodyAlreadyReadError());
    },
  });
}

function requestBodyStream(incoming: IncomingMessage, outgoing: ServerResponse): ReadableStream<Uint8Array> {
  let settled = false;
  let controller!: ReadableStreamDefaultController<Uint8Array>;

  const onData = (chunk: Buffer): void => {
    if (settled) return;
    controller.enqueue(chunk);
    if ((controller.desiredSize ?? 0) <= 0) incoming.pause();
  };
  const onEnd = (): void => {
    if (settled) return;
    detach();
    controller.close();
  };
  const onError = (error: Error): void => {
    if (settled) return;
    detach();
    controller.error(error);
  };
  const onClose = (): void => {
    if (settled) return;
    detach();
    controller.error(new DOMException("The client disconnected before the request body was complete.", "AbortError"));
  };
  const onResponseFinish = (): void => {
    // The response is complete but the handler left part of the body unread: discard the rest so
    // a keep-alive connection can carry the next request.
    if (settled) return;
    detach();
    controller.error(new Error("The response finished before the request body was read; the rest was discarded."));
    incoming.resume();
  };
  const detach = (): void => {
    settled = true;
    incoming.off("data", onData);
    incoming.off("end", onEnd);
    incoming.off("close", onClose);
    outgoing.off("finish", onResponseFinish);
  };

  return new ReadableStream<Uint8Array>(
    {
      start(streamController) {
        controller = streamController;
        incoming.on("data", onData);
        incoming.on("end", onEnd);
        incoming.on("error", onError);
        incoming.on("close", onClose);
        outgoing.on("finish", onResponseFinish);
      },
      pull() {
        if (!settled) incoming.resume();
      },
      cancel() {
        // The handler does not want the rest of the body: drain and discard it.
        detach();
        incoming.resume();
      },
    },
    { highWaterMark: REQUEST_BODY_HIGH_WATER_MARK, size: (chunk) => chunk.byteLength },
  );
}
