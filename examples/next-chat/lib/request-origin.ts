import type { WebHandler } from "@durastream/server";

/**
 * Gives a route handler a `request.url` on the origin the browser actually used.
 *
 * Next.js builds a route handler's `request.url` from the host name the server was started with
 * (`http://localhost:<port>` for `next start` / `next dev`), not from the request's `Host` header.
 * Durastream builds the run's resume URL (sent to the client, used after a redirect, a dropped
 * connection or a page reload) from `request.url`, so a browser on `http://127.0.0.1:3000`, a LAN
 * address or your domain behind a reverse proxy would be sent to `localhost` — another origin, which
 * the browser blocks (CORS) or which is not even the server. This wrapper puts the host from
 * `X-Forwarded-Host` (set by proxies, and by Next.js itself from `Host`) or `Host` into the URL.
 */
export function withRequestOrigin(handler: WebHandler): WebHandler {
  return (request) => handler(onRequestOrigin(request));
}

/** `request` with the browser's host in its URL (see {@link withRequestOrigin}). */
export function onRequestOrigin(request: Request): Request {
  const host = request.headers.get("x-forwarded-host")?.split(",")[0]?.trim() || request.headers.get("host");
  const url = new URL(request.url);
  if (!host || url.host === host) return request;
  url.host = host;
  if (url.host !== host) return request; // not a valid host: keep Next's URL
  return new Request(url, {
    method: request.method,
    headers: request.headers,
    body: request.body,
    signal: request.signal,
    duplex: "half", // needed to pass a streamed body on (Node's fetch)
  } as RequestInit);
}
