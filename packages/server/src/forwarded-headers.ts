/**
 * `trustProxy`: one reading of the headers a reverse proxy sets, shared by `createDurable` (the
 * origin of resume URLs) and the Node adapter's `serveEndpoint` (the URL of the Web `Request`), so
 * both take the same host and protocol from the same request.
 *
 * - `X-Forwarded-Host`: its first value (of a comma-separated list, trimmed), if it is a host name
 *   or address with an optional port ({@link isPlainHost}); anything else is ignored.
 * - `X-Forwarded-Proto`: its first value, lower-cased, if it is `http` or `https`; anything else
 *   is ignored.
 *
 * Read only when the app opted in: a client can send these headers itself.
 */

/** A header's value as either runtime gives it: Web `Headers.get` or Node's `IncomingHttpHeaders`. */
export type HeaderValue = string | readonly string[] | null | undefined;

/** What the forwarded headers say; a field is undefined when its header is missing or not valid. */
export interface Forwarded {
  readonly host: string | undefined;
  readonly protocol: "http" | "https" | undefined;
}

const PLAIN_HOST = /^[\w.-]+(:\d+)?$|^\[[\d:a-fA-F.]+\](:\d+)?$/;

/**
 * Whether `host` is a host name, IPv4 address or bracketed IPv6 address, with an optional port:
 * nothing that could move the path or smuggle userinfo into a URL built on it.
 */
export function isPlainHost(host: string): boolean {
  return PLAIN_HOST.test(host);
}

/** The first value of a comma-separated header list, trimmed; undefined when there is none. */
function firstValue(value: HeaderValue): string | undefined {
  const whole = typeof value === "string" ? value : value?.[0];
  const first = whole?.split(",", 1)[0]?.trim();
  return first === undefined || first === "" ? undefined : first;
}

/** Reads `X-Forwarded-Host` and `X-Forwarded-Proto` through `get` (a header name in lower case). */
export function readForwarded(get: (name: "x-forwarded-host" | "x-forwarded-proto") => HeaderValue): Forwarded {
  const host = firstValue(get("x-forwarded-host"));
  const protocol = firstValue(get("x-forwarded-proto"))?.toLowerCase();
  return {
    host: host !== undefined && isPlainHost(host) ? host : undefined,
    protocol: protocol === "http" || protocol === "https" ? protocol : undefined,
  };
}
