/**
 * Resolves a URL the way a browser would: against `base`, which is itself resolved against the
 * page's address when there is one (`location.href`). Returns `url` unchanged when it cannot be
 * resolved (a relative URL with no absolute base, as in Node without a page), leaving the decision
 * to the `fetch` in use.
 *
 * @example
 * ```ts
 * resolveUrl("/api/durable/01J?token=t", "https://app.example/api/chat");
 * // "https://app.example/api/durable/01J?token=t"
 * ```
 */
export function resolveUrl(url: string, base?: string): string {
  const page = pageUrl();
  try {
    const absoluteBase = base === undefined ? page : new URL(base, page).href;
    return new URL(url, absoluteBase).href;
  } catch {
    try {
      return new URL(url).href;
    } catch {
      return url;
    }
  }
}

function pageUrl(): string | undefined {
  const location = (globalThis as { location?: { href?: unknown } }).location;
  return typeof location?.href === "string" ? location.href : undefined;
}
