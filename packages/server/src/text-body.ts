/**
 * @module
 * The text-body fast path: a contract between the engine's SSE responses and the Node adapter,
 * kept whole in this module (nothing else knows the symbol).
 *
 * - Producer (`create-durable.ts`, `wait-endpoint.ts`): {@link attachTextBody} puts a
 *   {@link TextBodySource} on a `Response` whose Web `body` streams the same text.
 * - Consumer (`node/serve-endpoint.ts`): {@link takeTextBody} takes the source off the response,
 *   once, and only while its Web `body` is untouched; it then calls `start(sink)` once, `resume()`
 *   after a `write` returned false and the socket drained, `cancel(reason)` when the client went
 *   away. The source calls the sink's `write` per piece, then `end()` or `error(error)`.
 * - Every other runtime (and a consumer that does not know the contract) reads `response.body`
 *   as usual; a response copied with `new Response(body, init)` loses the source.
 *
 * Tested from both sides: `text-body.test.ts` (hand-out rules) and `node/serve-endpoint.test.ts`
 * (the Node adapter writing sources to the socket).
 */
/**
 * A response body that can also be sent as text, piece by piece, without a Web `ReadableStream`
 * in between. The engine's SSE responses carry one; the Node adapter has its pieces written
 * straight to the socket (no `ReadableStream` reads, no `TextEncoder` pass, no promise per piece),
 * while every other runtime reads `response.body` as usual.
 *
 * The symbol is registered (`Symbol.for`), so a response made by one copy of this package is
 * recognised by another (frameworks may bundle the adapter and the endpoint separately).
 */
export interface TextBodySource {
  /** Starts sending the body to `sink`; called once. */
  start(sink: TextBodySink): void;
  /** The sink has room again after `write` returned false. */
  resume(): void;
  /** The reader went away before the end; nothing more is sent. */
  cancel(reason: unknown): void;
}

/** Where a {@link TextBodySource} sends its pieces. */
export interface TextBodySink {
  /** The next piece. Returns false when the sink is full: nothing more comes until `resume()`. */
  write(text: string): boolean;
  /** The body is complete. */
  end(): void;
  /** The body cannot go on (e.g. the store failed); nothing more comes. */
  error(error: unknown): void;
}

const TEXT_BODY = Symbol.for("durastream.textBody");

interface TextBodyHolder {
  [TEXT_BODY]?: TextBodySource;
}

/** Hands `source` out to the first caller of {@link takeTextBody} for `response`. */
export function attachTextBody(response: Response, source: TextBodySource): Response {
  Object.defineProperty(response, TEXT_BODY, { value: source, configurable: true });
  return response;
}

/**
 * The response's text body source, if it has one and its `body` has not been touched; from then on
 * the body belongs to the caller, who must read it to the end or cancel it.
 */
export function takeTextBody(response: Response): TextBodySource | undefined {
  const source = (response as TextBodyHolder)[TEXT_BODY];
  if (source === undefined || response.bodyUsed || response.body === null || response.body.locked) return undefined;
  delete (response as TextBodyHolder)[TEXT_BODY];
  return source;
}
