import type { BodyEncoding } from "./frames.js";

// The one place that knows how bytes travel as JSON strings: a body is its UTF-8 text when the bytes
// are valid UTF-8 and base64 otherwise (response snapshots in result frames, request snapshots kept
// with a run), and resume-token signatures are base64url without padding.

/** Bytes per `String.fromCharCode` call when building base64 input (below the engines' argument limits). */
const BASE64_CHUNK = 0x8000;
const textEncoder = /* @__PURE__ */ new TextEncoder();

/**
 * A body as a snapshot stores it: its text when the bytes are valid UTF-8 (a byte order mark is
 * kept as a character), else base64 of the bytes.
 *
 * @internal Shared by the response and request snapshots (`@durastream/protocol/internal`).
 */
export function encodeBody(bytes: Uint8Array): { body: string; bodyEncoding: BodyEncoding } {
  try {
    return { body: new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes), bodyEncoding: "text" };
  } catch {
    return { body: bytesToBase64(bytes), bodyEncoding: "base64" };
  }
}

/**
 * The bytes of a body that `encodeBody` encoded.
 *
 * @internal Shared by the response and request snapshots (`@durastream/protocol/internal`).
 */
export function decodeBody(body: string, bodyEncoding: BodyEncoding): Uint8Array<ArrayBuffer> {
  return bodyEncoding === "base64" ? base64ToBytes(body) : textEncoder.encode(body);
}

/**
 * Base64 (with padding) of bytes.
 *
 * @internal
 */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let index = 0; index < bytes.length; index += BASE64_CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(index, index + BASE64_CHUNK));
  }
  return btoa(binary);
}

/**
 * The bytes of base64 text; throws a `DOMException` (`InvalidCharacterError`) when it is not base64.
 *
 * @internal
 */
export function base64ToBytes(base64: string): Uint8Array<ArrayBuffer> {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index += 1) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

/**
 * Base64url without padding (RFC 4648 §5), as resume tokens carry their signature.
 *
 * @internal
 */
export function bytesToBase64Url(bytes: Uint8Array): string {
  return bytesToBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * The bytes of base64url text (padding optional), or `undefined` when it is not base64url.
 *
 * @internal
 */
export function base64UrlToBytes(text: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    return base64ToBytes(text.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    return undefined;
  }
}
