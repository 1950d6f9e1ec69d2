import { readForwarded, isPlainHost } from "./forwarded-headers.js";
import type { ResumeTokens } from "./resume-token.js";
import type { Timers } from "./timers.js";

/**
 * The origin the client used: the request URL's, with the host the client asked for (`Host`,
 * which some frameworks — Next.js — do not reflect in `request.url`), or with the forwarded host
 * and protocol when `trustProxy` is set (see forwarded-headers.ts).
 */
export function publicOrigin(request: Request, trustProxy: boolean): string {
  const url = new URL(request.url);
  const forwarded = trustProxy ? readForwarded((name) => request.headers.get(name)) : undefined;
  const host = forwarded?.host ?? request.headers.get("host");
  if (forwarded?.protocol !== undefined) url.protocol = `${forwarded.protocol}:`;
  if (host !== null && isPlainHost(host)) {
    const asked = new URL(`http://${host}`);
    url.hostname = asked.hostname;
    url.port = asked.port; // "" when the client named no port: the protocol's default
  }
  return url.origin;
}

/** What resume URLs are built from (`createDurable`'s options). */
export interface ResumeUrlOptions {
  readonly tokens: ResumeTokens;
  readonly timers: Timers;
  /** How long a token stays valid, ms. */
  readonly resumeTokenTtl: number;
  /** Where the wait endpoint is mounted. */
  readonly basePath: string;
  readonly asyncRedirectUrl: string | ((params: { runId: string; token: string }) => string | Promise<string>) | undefined;
  readonly trustProxy: boolean;
}

/**
 * Builds the URL where a run's log can be read again, with a fresh token: on the origin the
 * client used (by default `<basePath>/<runId>?token=…`), or where `asyncRedirectUrl` says.
 */
export async function resumeUrl(options: ResumeUrlOptions, runId: string, request: Request): Promise<string> {
  const { tokens, timers, resumeTokenTtl, basePath, asyncRedirectUrl } = options;
  const token = await tokens.sign(runId, timers.now() + resumeTokenTtl);
  const origin = publicOrigin(request, options.trustProxy);
  if (typeof asyncRedirectUrl === "function") return new URL(await asyncRedirectUrl({ runId, token }), origin).href;
  const url = new URL(asyncRedirectUrl ?? `${basePath.replace(/\/+$/, "")}/${runId}`, origin);
  if (asyncRedirectUrl !== undefined) url.searchParams.set("runId", runId);
  url.searchParams.set("token", token);
  return url.href;
}
