import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base64ToBytes, base64UrlToBytes, bytesToBase64, bytesToBase64Url, decodeBody, encodeBody } from "./body-encoding.js";
import { responseFromSnapshot, snapshotResponse } from "./response-snapshot.js";

const utf8 = new TextEncoder();
/** Byte strings that are often valid UTF-8 (from text) and often not (arbitrary bytes). */
const bodyBytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.string({ unit: "grapheme", maxLength: 32 }).map((text) => utf8.encode(text)),
  fc.string({ maxLength: 8 }).map((text) => utf8.encode(`\uFEFF${text}`)),
);

function isUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

describe("body encoding (property)", () => {
  it("round-trips any bytes, as text exactly when they are UTF-8, as standard base64 otherwise", () => {
    fc.assert(
      fc.property(bodyBytes, (bytes) => {
        const { body, bodyEncoding } = encodeBody(bytes);
        expect(decodeBody(body, bodyEncoding)).toEqual(new Uint8Array(bytes));
        expect(bodyEncoding).toBe(isUtf8(bytes) ? "text" : "base64");
        if (bodyEncoding === "base64") expect(body).toBe(Buffer.from(bytes).toString("base64"));
        expect(bytesToBase64(bytes)).toBe(Buffer.from(bytes).toString("base64"));
        expect(base64ToBytes(bytesToBase64(bytes))).toEqual(new Uint8Array(bytes));
        expect(bytesToBase64Url(bytes)).toBe(Buffer.from(bytes).toString("base64url"));
        expect(base64UrlToBytes(bytesToBase64Url(bytes))).toEqual(new Uint8Array(bytes));
      }),
    );
  });

  it("is what a response snapshot carries, and what a response is rebuilt from", async () => {
    await fc.assert(
      fc.asyncProperty(bodyBytes, async (bytes) => {
        const snapshot = await snapshotResponse(new Response(new Uint8Array(bytes)));
        expect({ body: snapshot.body, bodyEncoding: snapshot.bodyEncoding }).toEqual(encodeBody(bytes));
        const rebuilt = new Uint8Array(await responseFromSnapshot(snapshot).arrayBuffer());
        expect(rebuilt).toEqual(new Uint8Array(bytes));
      }),
      { numRuns: 50 },
    );
  });

  it("encodes bodies larger than one String.fromCharCode batch", () => {
    const bytes = new Uint8Array(100_000).map((_, index) => (index * 7919) & 0xff);
    expect(bytesToBase64(bytes)).toBe(Buffer.from(bytes).toString("base64"));
  });

  it("rejects text that is not base64url", () => {
    expect(base64UrlToBytes("!")).toBeUndefined();
    expect(base64UrlToBytes("a")).toBeUndefined();
  });
});
