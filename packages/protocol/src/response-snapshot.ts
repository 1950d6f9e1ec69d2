import { InvalidOptionsError, ProtocolError } from "./errors.js";
import type { ResponseSnapshot } from "./frames.js";
import { decodeBody, encodeBody } from "./body-encoding.js";

const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([204, 205, 304]);

/** Options of `snapshotResponse`. */
export interface SnapshotResponseOptions {
  /**
   * Most body bytes to read. A body that goes past it is not read further: its stream is
   * cancelled and `snapshotResponse` rejects with a `ProtocolError` of code `BODY_TOO_LARGE`, so
   * an endless or huge body costs at most this much memory. Default: no limit.
   */
  readonly maxBodyBytes?: number;
}

/**
 * Reads a `Response` into a snapshot that a result frame can carry: status, status text, every
 * header in order (repeated `set-cookie` headers kept apart), and the body, as text when it is
 * valid UTF-8 and as base64 otherwise. Consumes the response body (up to `maxBodyBytes`).
 *
 * @example
 * ```ts
 * const snapshot = await snapshotResponse(Response.json({ ok: true }, { status: 202 }));
 * snapshot.status; // 202
 * await snapshotResponse(hugeResponse, { maxBodyBytes: 16 * 1024 * 1024 }); // rejects: BODY_TOO_LARGE
 * ```
 */
export async function snapshotResponse(response: Response, options: SnapshotResponseOptions = {}): Promise<ResponseSnapshot> {
  const { maxBodyBytes } = options;
  const bytes =
    maxBodyBytes === undefined || maxBodyBytes === Number.POSITIVE_INFINITY
      ? new Uint8Array(await response.arrayBuffer())
      : await readBodyUpTo(response, maxBodyBytes);
  const { body, bodyEncoding } = encodeBody(bytes);
  return {
    status: response.status,
    statusText: response.statusText,
    headers: [...response.headers],
    body,
    bodyEncoding,
  };
}

/** Options of `responseFromSnapshot`. */
export interface ResponseFromSnapshotOptions {
  /**
   * Undo the body's `content-encoding` (gzip, deflate, and whatever else `DecompressionStream`
   * supports here), as `fetch` does when it reads a body. Default true: the `Response` a client
   * gets equals what `fetch` of the same response would give. Pass false to get the stored bytes
   * unchanged, e.g. to send them on over HTTP with their `content-encoding` header.
   */
  readonly decode?: boolean;
}

/**
 * Rebuilds the `Response` a snapshot describes, with the same status, headers and body bytes.
 * A body with a `content-encoding` header is decoded by default, as `fetch` decodes one from the
 * network: the headers stay as they were (like `fetch`, which keeps `content-encoding` and
 * `content-length` too) and the body reads as the decoded bytes. An encoding this runtime's
 * `DecompressionStream` cannot undo (`br` where it has no `"brotli"`, `zstd`) leaves the body
 * as stored; bytes that are not valid for their encoding make reading the body reject, as with
 * `fetch`.
 *
 * @example
 * ```ts
 * const response = responseFromSnapshot(resultFrame.response);
 * await response.json(); // also for a handler that answered with `content-encoding: gzip`
 * ```
 */
export function responseFromSnapshot(snapshot: ResponseSnapshot, options: ResponseFromSnapshotOptions = {}): Response {
  const headers = new Headers();
  for (const [name, value] of snapshot.headers) headers.append(name, value);
  // Text goes in as bytes too: a string body would make `Response` add a content-type header the
  // original response did not have.
  const bytes = NULL_BODY_STATUSES.has(snapshot.status) ? null : decodeBody(snapshot.body, snapshot.bodyEncoding);
  const decoders = bytes === null || options.decode === false ? undefined : decodersFor(headers.get("content-encoding"));
  let body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null = bytes;
  if (bytes !== null && decoders !== undefined && decoders.length > 0) {
    let stream = new Blob([bytes]).stream() as ReadableStream<Uint8Array>;
    // (A DecompressionStream takes any BufferSource; TypeScript's lib types cannot pipe bytes into it directly.)
    for (const decoder of decoders) stream = stream.pipeThrough(decoder as unknown as TransformStream<Uint8Array, Uint8Array>);
    body = stream;
  }
  return new Response(body, { status: snapshot.status, statusText: snapshot.statusText, headers });
}

/**
 * Reads a body chunk by chunk, at most `maxBytes` of it; past that, cancels the stream (the
 * source stops being pulled) and rejects with `BODY_TOO_LARGE`.
 */
async function readBodyUpTo(response: Response, maxBytes: number): Promise<Uint8Array> {
  if (response.bodyUsed) throw new InvalidOptionsError("snapshotResponse: the response body has already been read.");
  const body = response.body;
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!(value instanceof Uint8Array)) throw new TypeError("snapshotResponse: a response body chunk is not a Uint8Array.");
      total += value.byteLength;
      if (total > maxBytes) {
        throw new ProtocolError("BODY_TOO_LARGE", `The response body is larger than ${maxBytes} bytes; it was not read further.`);
      }
      chunks.push(value);
    }
  } catch (error) {
    chunks.length = 0;
    // Not awaited: a source whose cancel() never settles must not hold the snapshot up.
    reader.cancel(error).catch(() => {});
    throw error;
  }
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

const DECOMPRESSION_FORMATS: Readonly<Record<string, string>> = {
  gzip: "gzip",
  "x-gzip": "gzip",
  deflate: "deflate",
  br: "brotli",
};

/**
 * The decoders that undo a `content-encoding` list (applied in order, so undone last to first),
 * or `undefined` when one of them is unknown or not supported here: then the body stays as it is.
 */
function decodersFor(contentEncoding: string | null): DecompressionStream[] | undefined {
  if (contentEncoding === null || typeof DecompressionStream !== "function") return undefined;
  const codings = contentEncoding
    .split(",")
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== "" && coding !== "identity");
  const decoders: DecompressionStream[] = [];
  for (const coding of codings.reverse()) {
    const format = DECOMPRESSION_FORMATS[coding];
    if (format === undefined) return undefined;
    try {
      decoders.push(new DecompressionStream(format as CompressionFormat));
    } catch {
      return undefined;
    }
  }
  return decoders;
}
