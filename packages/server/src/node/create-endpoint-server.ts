import { createServer, type Server } from "node:http";
import { serveEndpoint, type ServeEndpointOptions } from "./serve-endpoint.js";

/** How long an idle keep-alive connection stays open: longer than clients and load balancers keep theirs. */
const IDLE_KEEP_ALIVE_MS = 72_000;

/**
 * Creates a Node `http.Server` that answers every request with a Web handler
 * `(request: Request) => Promise<Response>`, via {@link serveEndpoint}. The server disables
 * Nagle's algorithm so small SSE frames go out immediately and turns on TCP keep-alive probes so
 * long-lived streams to vanished clients are eventually noticed. Call `listen` yourself.
 *
 * Idle keep-alive connections are kept for 72 s (Node's default is 5 s, as Fastify does): a
 * client that reuses a pooled connection just as the server closes it gets a reset, and a `POST`
 * that starts a run cannot be sent again safely. Clients (`fetch`'s undici: the server's
 * `Keep-Alive: timeout` hint minus a margin) and load balancers (60 s is common) then close idle
 * connections first, even when their timers run late under load.
 *
 * For other `http.createServer` options, use `http.createServer(options, serveEndpoint(handler))`.
 *
 * @example
 * ```ts
 * import { createEndpointServer } from "@durastream/server/node";
 *
 * const server = createEndpointServer(async (request) => new Response("ok"), {
 *   onError: ({ error, phase }) => console.error(phase, error),
 * });
 * server.listen(3000, () => console.log("listening on http://localhost:3000"));
 * ```
 */
export function createEndpointServer(handler: (request: Request) => Response | Promise<Response>, options?: ServeEndpointOptions): Server {
  const server = createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 }, serveEndpoint(handler, options));
  server.keepAliveTimeout = IDLE_KEEP_ALIVE_MS;
  return server;
}
