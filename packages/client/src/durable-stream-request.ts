/**
 * The request init of `start(input)`: `base` (the store's `fetchOpts`) with `input` over it; when
 * both have headers, they are merged (those of `input` win).
 */
export function mergeRequestInit(base: RequestInit | undefined, input: RequestInit | undefined): RequestInit {
  if (input === undefined) return { ...base };
  const merged: RequestInit = { ...base, ...input };
  if (base?.headers !== undefined && base.headers !== null && input.headers !== undefined && input.headers !== null) {
    const headers = new Headers(base.headers);
    for (const [name, value] of new Headers(input.headers)) headers.set(name, value);
    merged.headers = headers;
  }
  return merged;
}

/**
 * The request init for `resumeStream` from the store's `fetchOpts`: its headers, credentials and
 * the like, without what a `GET` to a resume URL must not carry (method, body, a `Last-Event-ID`
 * header), and with the caller's `signal` apart (the store links it to its own).
 */
export function resumeRequestInit(fetchOpts: RequestInit | undefined): {
  readonly init: Omit<RequestInit, "method" | "body" | "signal">;
  readonly signal: AbortSignal | null | undefined;
} {
  const { method: _method, body: _body, signal, ...init } = fetchOpts ?? {};
  const headers = new Headers(init.headers ?? undefined);
  headers.delete("last-event-id");
  return { init: { ...init, headers }, signal };
}

/**
 * Calls `onAbort` with the reason when `signal` aborts (at once when it already has); returns the
 * function that stops listening.
 */
export function linkSignal(signal: AbortSignal | null | undefined, onAbort: (reason: unknown) => void): () => void {
  if (signal === null || signal === undefined) return noop;
  if (signal.aborted) {
    onAbort(signal.reason);
    return noop;
  }
  const listener = (): void => onAbort(signal.reason);
  signal.addEventListener("abort", listener, { once: true });
  return () => signal.removeEventListener("abort", listener);
}

/** Does nothing: the unlink of a signal that was never linked. */
export function noop(): void {}
