import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createUtf8ChunkDecoder } from "./utf8-chunk-decoder.js";

const encoder = new TextEncoder();

/** The reference: TextDecoder in stream mode, fed the same chunks. */
function decodeStreaming(chunks: readonly Uint8Array[]): string {
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  return chunks.map((chunk) => decoder.decode(chunk, { stream: true })).join("") + decoder.decode();
}

function decodeInChunks(chunks: readonly Uint8Array[]): string {
  const decoder = createUtf8ChunkDecoder();
  return chunks.map((chunk) => decoder.decode(chunk)).join("") + decoder.end();
}

/** Cuts bytes at the given offsets (sorted, duplicates give empty chunks). */
function cut(bytes: Uint8Array, offsets: readonly number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const offset of [...offsets].sort((a, b) => a - b)) {
    chunks.push(bytes.subarray(start, offset));
    start = offset;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

/** Valid UTF-8 of every length with stray bytes mixed in: lone continuation bytes, cut-off and overlong sequences, invalid leads. */
const bytesToDecode = fc
  .array(
    fc.oneof(
      fc.string({ unit: "binary", maxLength: 8 }).map((text) => [...encoder.encode(text)]),
      fc.array(fc.integer({ min: 0x80, max: 0xff }), { maxLength: 4 }),
      fc.constantFrom([0xef, 0xbb, 0xbf], [0xe0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90], [0xc0, 0xaf], [0xf0, 0x9f, 0x98]),
    ),
    { maxLength: 12 },
  )
  .map((parts) => Uint8Array.from(parts.flat()));

describe("createUtf8ChunkDecoder", () => {
  it("gives the text of TextDecoder's stream mode, however the bytes are cut", () => {
    fc.assert(
      fc.property(bytesToDecode, fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
        const chunks = cut(
          bytes,
          cuts.map((offset) => offset % (bytes.length + 1)),
        );
        expect(decodeInChunks(chunks)).toBe(decodeStreaming(chunks));
      }),
      { numRuns: 2000 },
    );
  });

  it("gives the same text fed one byte at a time", () => {
    fc.assert(
      fc.property(bytesToDecode, (bytes) => {
        const chunks = [...bytes].map((byte) => Uint8Array.of(byte));
        expect(decodeInChunks(chunks)).toBe(decodeStreaming([bytes]));
      }),
    );
  });

  it("holds back a character cut off at the end of a chunk until the next one finishes it", () => {
    const decoder = createUtf8ChunkDecoder();
    expect(decoder.decode(Uint8Array.of(0x61, 0xf0, 0x9f, 0x98))).toBe("a");
    expect(decoder.decode(Uint8Array.of(0x80, 0x62))).toBe("😀b");
    expect(decoder.end()).toBe("");
  });

  it("keeps a BOM, at the start of the stream too", () => {
    const decoder = createUtf8ChunkDecoder();
    expect(decoder.decode(Uint8Array.of(0xef, 0xbb))).toBe("");
    expect(decoder.decode(Uint8Array.of(0xbf, 0x61))).toBe("\uFEFFa");
  });

  it("end() turns a character still cut off into U+FFFD, and later bytes do not finish it", () => {
    const decoder = createUtf8ChunkDecoder();
    expect(decoder.decode(Uint8Array.of(0xe4, 0xb8))).toBe("");
    expect(decoder.end()).toBe("\uFFFD");
    expect(decoder.decode(Uint8Array.of(0xad))).toBe("\uFFFD");
    expect(decoder.end()).toBe("");
  });

  it("reset() forgets a character cut off", () => {
    const decoder = createUtf8ChunkDecoder();
    decoder.decode(Uint8Array.of(0xe4, 0xb8));
    decoder.reset();
    expect(decoder.decode(Uint8Array.of(0x61))).toBe("a");
    expect(decoder.end()).toBe("");
  });
});
