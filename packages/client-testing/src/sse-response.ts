import { HttpResponse } from "msw";
import { controlledStream } from "./controlled-stream.js";

/**
 * An SSE response for an msw handler, with `text` already queued in awkward chunks and the stream
 * closed after it.
 *
 * @example
 * ```ts
 * http.get(`${ORIGIN}/chat`, () => sseResponse(sse(metadata, result)));
 * ```
 */
export function sseResponse(text: string, headers: Record<string, string> = {}): HttpResponse<ReadableStream> {
  const body = controlledStream();
  body.send(text);
  body.close();
  return streamResponse(body.stream, headers);
}

/**
 * An SSE response around a stream the test controls.
 *
 * @example
 * ```ts
 * http.get(`${ORIGIN}/chat`, () => streamResponse(body.stream));
 * ```
 */
export function streamResponse(stream: ReadableStream<Uint8Array>, headers: Record<string, string> = {}): HttpResponse<ReadableStream> {
  return new HttpResponse(stream, { headers: { "content-type": "text/event-stream", ...headers } });
}
