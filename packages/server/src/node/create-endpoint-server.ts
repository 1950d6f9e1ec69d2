import { createServer, type Server } from "node:http";
import { serveEndpoint, type ServeEndpointOptions } from "./serve-endpoint.js";

/**
 * Creates a Node `http.Server` that answers every request with a Web handler
 * `(request: Request) => Promise<Response>`, via {@link serveEndpoint}. The server disables
 * Nagle's algorithm so small SSE frames go out immediately and turns on TCP keep-alive probes so
 * long-lived streams to vanished clients are eventually noticed. Call `listen` yourself.
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
  return createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 }, serveEndpoint(handler, options));
}
