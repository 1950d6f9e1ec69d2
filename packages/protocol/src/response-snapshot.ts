import type { ResponseSnapshot } from "./frames.js";

const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([204, 205, 304]);
const encoder = new TextEncoder();

/**
 * Reads a `Response` into a snapshot that a result frame can carry: status, status text, every
 * header in order (repeated `set-cookie` headers kept apart), and the body, as text when it is
 * valid UTF-8 and as base64 otherwise. Consumes the response body.
 *
 * @example
 * ```ts
 * const snapshot = await snapshotResponse(Response.json({ ok: true }, { status: 202 }));
 * snapshot.status; // 202
 * ```
 */
export async function snapshotResponse(response: Response): Promise<ResponseSnapshot> {
  const bytes = new Uint8Array(await response.arrayBuffer());
  let body: string;
  let bodyEncoding: ResponseSnapshot["bodyEncoding"] = "text";
  try {
    body = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    body = bytesToBase64(bytes);
    bodyEncoding = "base64";
  }
  return {
    status: response.status,
    statusText: response.statusText,
    headers: [...response.headers],
    body,
    bodyEncoding,
  };
}

/**
 * Rebuilds the `Response` a snapshot describes, with the same status, headers and body bytes.
 *
 * @example
 * ```ts
 * const response = responseFromSnapshot(resultFrame.response);
 * await response.json();
 * ```
 */
export function responseFromSnapshot(snapshot: ResponseSnapshot): Response {
  const headers = new Headers();
  for (const [name, value] of snapshot.headers) headers.append(name, value);
  // Text goes in as bytes too: a string body would make `Response` add a content-type header the
  // original response did not have.
  const body = NULL_BODY_STATUSES.has(snapshot.status)
    ? null
    : snapshot.bodyEncoding === "base64"
      ? base64ToBytes(snapshot.body)
      : encoder.encode(snapshot.body);
  return new Response(body, { status: snapshot.status, statusText: snapshot.statusText, headers });
}

function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  const step = 0x8000;
  for (let index = 0; index < bytes.length; index += step) {
    binary += String.fromCharCode(...bytes.subarray(index, index + step));
  }
  return btoa(binary);
}

function base64ToBytes(base64: string): Uint8Array<ArrayBuffer> {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index += 1) bytes[index] = binary.charCodeAt(index);
  return bytes;
}
