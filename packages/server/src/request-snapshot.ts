import { DurableError } from "./errors.js";
import type { RequestSnapshot } from "@durastream/protocol";
import { base64ToBytes, encodeBody } from "@durastream/protocol/internal";

/** Headers kept with a run by default (never credentials: re-executions must not depend on them). */
export const DEFAULT_REQUEST_HEADERS: readonly string[] = ["content-type", "accept", "accept-language", "user-agent"];

/**
 * Reads a request into the snapshot stored with its run: method, URL, the allow-listed headers,
 * and the body (at most `maxBodyBytes`, else a `DurableError` with code `BODY_TOO_LARGE`).
 * Resolves with the snapshot and the body bytes, so the live execution can use them too.
 */
export async function snapshotRequest(
  request: Request,
  options: { readonly maxBodyBytes: number; readonly headers: readonly string[] },
): Promise<{ snapshot: RequestSnapshot; body: Uint8Array<ArrayBuffer> | null }> {
  const tooLarge = () =>
    new DurableError(
      "BODY_TOO_LARGE",
      `The request body is larger than ${options.maxBodyBytes} bytes, the most a durable endpoint stores with its run. Send less, or raise createDurable({ maxBodyBytes }).`,
    );
  const declared = Number(request.headers.get("content-length") ?? Number.NaN);
  if (declared > options.maxBodyBytes) throw tooLarge();
  let body: Uint8Array<ArrayBuffer> | null = null;
  if (request.body !== null) {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > options.maxBodyBytes) {
        await reader.cancel(tooLarge()).catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
    body = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      body.set(chunk, offset);
      offset += chunk.byteLength;
    }
  }
  const headers: [string, string][] = [];
  for (const name of options.headers) {
    const value = request.headers.get(name);
    if (value !== null) headers.push([name.toLowerCase(), value]);
  }
  const encoded = body === null ? { body: null, bodyEncoding: "text" as const } : encodeBody(body);
  return { snapshot: { method: request.method, url: request.url, headers, ...encoded }, body };
}

/** Rebuilds the stored request for a re-execution. */
export function requestFromSnapshot(snapshot: RequestSnapshot, signal?: AbortSignal): Request {
  let body: BodyInit | null = null;
  if (snapshot.body !== null) {
    // Text stays a string (not `decodeBody`'s bytes): as a string body it gets the content-type
    // default it always has had when the snapshot kept none.
    body = snapshot.bodyEncoding === "base64" ? base64ToBytes(snapshot.body) : snapshot.body;
  }
  return new Request(snapshot.url, {
    method: snapshot.method,
    headers: snapshot.headers as [string, string][],
    body: snapshot.method === "GET" || snapshot.method === "HEAD" ? null : body,
    ...(signal === undefined ? {} : { signal }),
  });
}
