import { describe, expect, it } from "vitest";
import vectorsJson from "../test-vectors/frames.json";
import { createFrameDecoder, decodeEvent } from "./decode.js";
import { ProtocolError, type ProtocolErrorCode } from "./errors.js";
import type { Frame } from "./frames.js";

interface TestVector {
  readonly name: string;
  readonly input: string;
  readonly splitAt: readonly number[];
  readonly frames: readonly unknown[];
  readonly errors: readonly ProtocolErrorCode[];
}

const vectors = vectorsJson as unknown as readonly TestVector[];
const encoder = new TextEncoder();

interface Decoded {
  frames: Frame[];
  errors: ProtocolErrorCode[];
}

/** Feeds the chunks to a fresh decoder, then ends the stream. */
function decodeChunks(chunks: Iterable<Uint8Array | string>): Decoded {
  const result: Decoded = { frames: [], errors: [] };
  const decoder = createFrameDecoder({
    onFrame: (frame) => result.frames.push(frame),
    onError: (error) => result.errors.push(error.code),
  });
  for (const chunk of chunks) decoder.feed(chunk);
  decoder.end();
  return result;
}

/** Cuts bytes at the given offsets. */
function cut(bytes: Uint8Array, offsets: readonly number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const offset of offsets) {
    chunks.push(bytes.subarray(start, offset));
    start = offset;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

function* oneByteAtATime(bytes: Uint8Array): Generator<Uint8Array> {
  for (let index = 0; index < bytes.length; index += 1) yield bytes.subarray(index, index + 1);
}

/** Byte length of the UTF-8 sequence that starts with this lead byte. */
function sequenceLength(leadByte: number): number {
  if (leadByte >= 0xf0) return 4;
  if (leadByte >= 0xe0) return 3;
  if (leadByte >= 0xc0) return 2;
  return 1;
}

/** For each cut that falls inside a multibyte character: [length of that character, bytes before the cut]. */
function cutsInsideCharacters(bytes: Uint8Array, offsets: readonly number[]): [number, number][] {
  const found: [number, number][] = [];
  for (const offset of offsets) {
    let lead = offset;
    while (lead > 0 && (bytes[lead]! & 0xc0) === 0x80) lead -= 1;
    if (lead !== offset) found.push([sequenceLength(bytes[lead]!), offset - lead]);
  }
  return found;
}

describe("test vectors (test-vectors/frames.json)", () => {
  it("are well formed: unique names, increasing in-range byte offsets", () => {
    expect(vectors.length).toBeGreaterThan(30);
    expect(new Set(vectors.map((vector) => vector.name)).size).toBe(vectors.length);
    for (const vector of vectors) {
      const length = encoder.encode(vector.input).length;
      let previous = 0;
      for (const offset of vector.splitAt) {
        expect(Number.isInteger(offset), vector.name).toBe(true);
        expect(offset, vector.name).toBeGreaterThan(previous);
        expect(offset, vector.name).toBeLessThan(length);
        previous = offset;
      }
    }
  });

  it("cover every frame type and every error code the brief asks for", () => {
    const types = new Set(vectors.flatMap((vector) => vector.frames.map((frame) => (frame as Frame).type)));
    expect([...types].sort()).toEqual(["commit", "data", "metadata", "redirect", "result", "rollback"]);
    const codes = new Set(vectors.flatMap((vector) => vector.errors));
    expect([...codes].sort()).toEqual(["INVALID_FRAME", "INVALID_OFFSET", "MALFORMED_FRAME", "UNKNOWN_EVENT", "UNKNOWN_FIELD", "UNSUPPORTED_VERSION"]);
  });

  it("really cut inside 2-, 3- and 4-byte characters where their names say so", () => {
    const cutsOf = (namePart: string) => {
      const vector = vectors.find((candidate) => candidate.name.includes(namePart));
      expect(vector, namePart).toBeDefined();
      return cutsInsideCharacters(encoder.encode(vector!.input), vector!.splitAt);
    };
    expect(cutsOf("2-byte UTF-8")).toContainEqual([2, 1]);
    expect(cutsOf("3-byte UTF-8")).toEqual(
      expect.arrayContaining([
        [3, 1],
        [3, 2],
      ]),
    );
    expect(cutsOf("4-byte UTF-8")).toEqual(
      expect.arrayContaining([
        [4, 1],
        [4, 2],
        [4, 3],
      ]),
    );
    expect(cutsOf("BOM at the start of the stream, split")).toEqual(
      expect.arrayContaining([
        [3, 1],
        [3, 2],
      ]),
    );
  });

  it("really cut between CR and LF in the CRLF vector", () => {
    const vector = vectors.find((candidate) => candidate.name.startsWith("CRLF line endings split"))!;
    const bytes = encoder.encode(vector.input);
    const betweenCrAndLf = vector.splitAt.filter((offset) => bytes[offset - 1] === 0x0d && bytes[offset] === 0x0a);
    expect(betweenCrAndLf.length).toBe(vector.input.split("\r\n").length - 1);
  });

  describe.each(vectors.map((vector) => [vector.name, vector] as const))("%s", (_name, vector) => {
    const bytes = encoder.encode(vector.input);

    it("decodes as split in the vector", () => {
      const decoded = decodeChunks(cut(bytes, vector.splitAt));
      expect(decoded.frames).toEqual(vector.frames);
      expect(decoded.errors).toEqual(vector.errors);
    });

    it("decodes the same when split at every single byte position", () => {
      for (let offset = 1; offset < bytes.length; offset += 1) {
        const decoded = decodeChunks(cut(bytes, [offset]));
        expect(decoded, `split at byte ${offset}`).toEqual({ frames: vector.frames, errors: vector.errors });
      }
    });

    it("decodes the same when fed one byte at a time", () => {
      const decoded = decodeChunks(oneByteAtATime(bytes));
      expect(decoded).toEqual({ frames: vector.frames, errors: vector.errors });
    });

    it("decodes the same when fed as text, whole and one UTF-16 unit at a time", () => {
      expect(decodeChunks([vector.input])).toEqual({ frames: vector.frames, errors: vector.errors });
      expect(decodeChunks(vector.input.split(""))).toEqual({ frames: vector.frames, errors: vector.errors });
    });
  });
});

describe("createFrameDecoder", () => {
  const commit = (offset: string) => `event: commit\nid: ${offset}\ndata: {"step":null}\n\n`;

  it("reports frames, errors and comments in stream order", () => {
    const log: string[] = [];
    const decoder = createFrameDecoder({
      onFrame: (frame) => log.push(`frame ${frame.type}`),
      onError: (error) => log.push(`error ${error.code}`),
      onComment: (comment) => log.push(`comment ${comment}`),
    });
    decoder.feed(`${commit("1-1")}: keep-alive\n\nevent: data\nid: 1-2\ndata: nope\n\n${commit("1-3")}`);
    expect(log).toEqual(["frame commit", "comment keep-alive", "error MALFORMED_FRAME", "frame commit"]);
  });

  it("never throws on bad input, even without an onError callback", () => {
    const frames: Frame[] = [];
    const decoder = createFrameDecoder({ onFrame: (frame) => frames.push(frame) });
    expect(() => {
      decoder.feed("event: data\nid: x\ndata: {\n\nbogus: field\n\nevent: nope\ndata: 1\n\n");
      decoder.feed(commit("1-1"));
      decoder.end();
    }).not.toThrow();
    expect(frames).toEqual([{ type: "commit", offset: "1-1", hashedStepId: null }]);
  });

  it("passes ProtocolErrors with the raw data and a readable message", () => {
    const errors: ProtocolError[] = [];
    const decoder = createFrameDecoder({ onFrame: () => {}, onError: (error) => errors.push(error) });
    decoder.feed('event: commit\ndata: {"step":null}\n\nevent: data\nid: 1-1\ndata: {"step":\n\n');
    expect(errors.map((error) => error.code)).toEqual(["INVALID_FRAME", "MALFORMED_FRAME"]);
    expect(errors[0]).toBeInstanceOf(ProtocolError);
    expect(errors[0]!.raw).toBe('{"step":null}');
    expect(errors[0]!.message).toMatch(/commit.*offset/);
    expect(errors[1]!.raw).toBe('{"step":');
    expect(errors[1]!.cause).toBeInstanceOf(SyntaxError);
  });

  it("reports unknown SSE fields as UNKNOWN_FIELD with the offending line", () => {
    const errors: ProtocolError[] = [];
    const decoder = createFrameDecoder({ onFrame: () => {}, onError: (error) => errors.push(error) });
    decoder.feed("colour: blue\n\n");
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe("UNKNOWN_FIELD");
    expect(errors[0]!.raw).toBe("colour: blue");
  });

  it("dispatches a CR-terminated event as soon as its last CR arrives", () => {
    const frames: Frame[] = [];
    const decoder = createFrameDecoder({ onFrame: (frame) => frames.push(frame) });
    decoder.feed(encoder.encode('event: commit\rid: 1-1\rdata: {"step":null}\r\r'));
    expect(frames).toEqual([{ type: "commit", offset: "1-1", hashedStepId: null }]);
  });

  it("treats an LF after a chunk-final CR as part of that CRLF, not as an empty line", () => {
    const frames: Frame[] = [];
    const decoder = createFrameDecoder({ onFrame: (frame) => frames.push(frame) });
    // Were the LF read as a blank line, "event: commit" would be dispatched alone (without data: dropped)
    // and the rest would arrive as an event without a type.
    for (const chunk of ["event: commit\r", "\nid: 1-1\r", "\n", 'data: {"step":null}\r', "", "\n\r", "\n"]) {
      decoder.feed(chunk);
    }
    expect(frames).toEqual([{ type: "commit", offset: "1-1", hashedStepId: null }]);
  });

  it("replaces invalid UTF-8 with U+FFFD instead of failing", () => {
    const frames: Frame[] = [];
    const decoder = createFrameDecoder({ onFrame: (frame) => frames.push(frame) });
    const head = encoder.encode('event: data\nid: 1-1\ndata: {"step":null,"data":"a');
    const tail = encoder.encode('b"}\n\n');
    decoder.feed(Uint8Array.of(...head, 0xff, ...tail));
    expect(frames).toEqual([{ type: "data", offset: "1-1", hashedStepId: null, data: "a\uFFFDb" }]);
  });

  it("end() terminates a dangling partial UTF-8 sequence: later bytes do not complete it", () => {
    const comments: string[] = [];
    const decoder = createFrameDecoder({ onFrame: () => {}, onComment: (comment) => comments.push(comment) });
    decoder.feed(Uint8Array.of(0x3a, 0xe4, 0xb8)); // ":" and the first two bytes of 中
    decoder.end();
    decoder.feed(Uint8Array.of(0xad, 0x0a)); // the last byte of 中 and LF
    expect(comments).toEqual(["\uFFFD\uFFFD"]);

    const unended: string[] = [];
    const control = createFrameDecoder({ onFrame: () => {}, onComment: (comment) => unended.push(comment) });
    control.feed(Uint8Array.of(0x3a, 0xe4, 0xb8));
    control.feed(Uint8Array.of(0xad, 0x0a));
    expect(unended).toEqual(["中"]);
  });

  it("reset() forgets a partial event and a partial character, and strips a new stream's BOM", () => {
    const frames: Frame[] = [];
    const errors: ProtocolErrorCode[] = [];
    const decoder = createFrameDecoder({
      onFrame: (frame) => frames.push(frame),
      onError: (error) => errors.push(error.code),
    });
    decoder.feed(encoder.encode('\uFEFFevent: data\nid: 1-1\ndata: {"step":null,"data":"cut off'));
    decoder.feed(Uint8Array.of(0xf0, 0x9f));
    decoder.reset();
    decoder.feed(encoder.encode(`\uFEFF${commit("1-1")}`));
    decoder.end();
    expect(frames).toEqual([{ type: "commit", offset: "1-1", hashedStepId: null }]);
    expect(errors).toEqual([]);
  });

  it("strips the BOM of a stream fed as text, but only once", () => {
    const decoded = decodeChunks([`\uFEFF${commit("1-1")}`]);
    expect(decoded).toEqual({ frames: [{ type: "commit", offset: "1-1", hashedStepId: null }], errors: [] });
    const twice = decodeChunks([`\uFEFF\uFEFF${commit("1-1")}`]);
    expect(twice.frames).toEqual([]);
    expect(twice.errors).toEqual(["UNKNOWN_FIELD", "UNKNOWN_EVENT"]);
  });
});

describe("decodeEvent", () => {
  it("decodes one parsed SSE message", () => {
    expect(decodeEvent({ event: "commit", id: "1-4", data: '{"step":null}' })).toEqual({
      type: "commit",
      offset: "1-4",
      hashedStepId: null,
    });
  });

  it("ignores an id on frames that are not in the log, and extra JSON fields", () => {
    expect(decodeEvent({ event: "redirect", id: "1-4", data: '{"url":"/w","reason":"retry","extra":true}' })).toEqual({
      type: "redirect",
      url: "/w",
      reason: "retry",
    });
    expect(decodeEvent({ event: "data", id: "1-5", data: '{"step":null,"data":1,"later":"field"}' })).toEqual({
      type: "data",
      offset: "1-5",
      hashedStepId: null,
      data: 1,
    });
  });

  it("reads an event without an event name as the SSE default 'message', which is unknown", () => {
    const error = captureError(() => decodeEvent({ data: '{"step":null}', id: "1-1" }));
    expect(error.code).toBe("UNKNOWN_EVENT");
    expect(error.message).toContain('"message"');
  });

  it("checks the event name before the data, so future frame types are always ignorable", () => {
    expect(captureError(() => decodeEvent({ event: "progress", data: "50%" })).code).toBe("UNKNOWN_EVENT");
    expect(captureError(() => decodeEvent({ event: "progress", data: "[1,2]" })).code).toBe("UNKNOWN_EVENT");
  });

  it("checks the protocol version before the rest of a metadata frame", () => {
    const error = captureError(() => decodeEvent({ event: "metadata", data: '{"version":2,"run":{}}' }));
    expect(error.code).toBe("UNSUPPORTED_VERSION");
    expect(error.message).toContain("version 2");
    expect(error.message).toContain("Upgrade");
  });

  it("reports a bad offset as INVALID_OFFSET", () => {
    const error = captureError(() => decodeEvent({ event: "commit", id: "7", data: '{"step":null}' }));
    expect(error.code).toBe("INVALID_OFFSET");
    expect(error.message).toContain('"7"');
  });

  it("keeps response headers in order, repeats included", () => {
    const frame = decodeEvent({
      event: "result",
      id: "1-9",
      data: JSON.stringify({
        status: "succeeded",
        response: {
          status: 200,
          statusText: "OK",
          headers: [
            ["set-cookie", "b=2"],
            ["content-type", "text/plain"],
            ["set-cookie", "a=1"],
          ],
          body: "",
          bodyEncoding: "text",
        },
      }),
    });
    expect(frame.type === "result" && frame.response.headers).toEqual([
      ["set-cookie", "b=2"],
      ["content-type", "text/plain"],
      ["set-cookie", "a=1"],
    ]);
  });
});

function captureError(run: () => unknown): ProtocolError {
  try {
    run();
  } catch (error) {
    if (ProtocolError.isInstance(error)) return error;
    throw error;
  }
  throw new Error("expected a ProtocolError");
}
