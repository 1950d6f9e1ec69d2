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
