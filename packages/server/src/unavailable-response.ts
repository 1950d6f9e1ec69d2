/**
 * A `503` telling the client to try again in a second (`Retry-After: 1`): the store is down, or
 * this instance shuts down. Pass `connection: close` in `headers` while shutting down, so a
 * client's pooled keep-alive connection does not keep retrying against this process (and keep
 * `server.close()` from completing).
 */
export function unavailableResponse(message: string, headers: Record<string, string> = {}): Response {
  return new Response(message, { status: 503, headers: { "content-type": "text/plain; charset=utf-8", "retry-after": "1", ...headers } });
}
