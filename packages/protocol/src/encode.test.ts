import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import vectorsJson from "../test-vectors/frames.json";
import { createFrameDecoder } from "./decode.js";
import { KEEP_ALIVE_COMMENT, encodeComment, encodeEvent, encodeFrame, encodeFramePayload } from "./encode.js";
import { InvalidOptionsError, type ProtocolErrorCode } from "./errors.js";
import type { Frame } from "./frames.js";
import { createDataPayloadEncoder, encodeDataPayload } from "./step-payload.js";

const STEP = "9e59d42533de13285d6ef99427563967a25bfcf7"; // sha1("generate")
const encoder = new TextEncoder();

/** One frame of every type, with the exact SSE text the encoder must produce for it. */
const examples: ReadonlyArray<readonly [Frame, string]> = [
  [
    { type: "metadata", runId: "01JBQ8Z7W3X5K2M9N4P6R8T0VY", protocolVersion: 1, resumeUrl: "/api/durable/r?token=t" },
    'event: metadata\ndata: {"runId":"01JBQ8Z7W3X5K2M9N4P6R8T0VY","version":1,"resumeUrl":"/api/durable/r?token=t"}\n\n',
  ],
  [{ type: "metadata", runId: "r", protocolVersion: 1, resumeUrl: null }, 'event: metadata\ndata: {"runId":"r","version":1,"resumeUrl":null}\n\n'],
  [{ type: "data", offset: "1-1", hashedStepId: STEP, data: "Hello" }, `event: data\nid: 1-1\ndata: {"step":"${STEP}","data":"Hello"}\n\n`],
  [
    { type: "data", offset: "1-2", hashedStepId: null, data: { delta: "é", n: [1, null] } },
    'event: data\nid: 1-2\ndata: {"step":null,"data":{"delta":"é","n":[1,null]}}\n\n',
  ],
  [{ type: "data", offset: "1-3", hashedStepId: null, data: null }, 'event: data\nid: 1-3\ndata: {"step":null,"data":null}\n\n'],
  [{ type: "commit", offset: "1-4", hashedStepId: STEP }, `event: commit\nid: 1-4\ndata: {"step":"${STEP}"}\n\n`],
  [{ type: "commit", offset: "1-5", hashedStepId: null }, 'event: commit\nid: 1-5\ndata: {"step":null}\n\n'],
  [
    {
      type: "rollback",
      offset: "2-6",
      hashedStepId: STEP,
      attempt: 2,
      willRetry: false,
      error: { name: "TypeError", message: "fetch failed" },
    },
    `event: rollback\nid: 2-6\ndata: {"step":"${STEP}","attempt":2,"willRetry":false,"error":{"name":"TypeError","message":"fetch failed"}}\n\n`,
  ],
  [
    { type: "redirect", url: "/api/durable/r?token=t", reason: "wait-for-event" },
    'event: redirect\ndata: {"url":"/api/durable/r?token=t","reason":"wait-for-event"}\n\n',
  ],
  [
    {
      type: "result",
      offset: "2-7",
      status: "succeeded",
      response: {
        status: 201,
        statusText: "Created",
        headers: [
          ["set-cookie", "a=1"],
          ["set-cookie", "b=2"],
        ],
        body: "//4AgA==",
        bodyEncoding: "base64",
      },
    },
    'event: result\nid: 2-7\ndata: {"status":"succeeded","response":{"status":201,"statusText":"Created","headers":[["set-cookie","a=1"],["set-cookie","b=2"]],"body":"//4AgA==","bodyEncoding":"base64"}}\n\n',
  ],
];

function decodeAll(chunks: Iterable<Uint8Array | string>): { frames: Frame[]; errors: ProtocolErrorCode[] } {
  const frames: Frame[] = [];
  const errors: ProtocolErrorCode[] = [];
  const decoder = createFrameDecoder({ onFrame: (frame) => frames.push(frame), onError: (error) => errors.push(error.code) });
  for (const chunk of chunks) decoder.feed(chunk);
  decoder.end();
  return { frames, errors };
}

describe("encodeEvent", () => {
  it("writes event, id and data lines and the blank line that ends the event", () => {
    expect(encodeEvent("commit", "1-7", '{"step":null}')).toBe('event: commit\nid: 1-7\ndata: {"step":null}\n\n');
  });

  it("leaves out the id line when there is no offset", () => {
    expect(encodeEvent("redirect", undefined, '{"url":"/w","reason":"sleep"}')).toBe('event: redirect\ndata: {"url":"/w","reason":"sleep"}\n\n');
  });
});

describe("encodeDataPayload", () => {
  it("wraps already serialized chunk JSON without parsing it again", () => {
    expect(encodeDataPayload(null, '"hello"')).toBe('{"step":null,"data":"hello"}');
    expect(encodeDataPayload(STEP, '{"a":[1,2]}')).toBe(`{"step":"${STEP}","data":{"a":[1,2]}}`);
  });

  it("JSON-escapes the step id", () => {
    expect(encodeDataPayload('a"b\\', "1")).toBe('{"step":"a\\"b\\\\","data":1}');
  });

  it("gives the same text as encodeFramePayload", () => {
    const frame: Frame = { type: "data", offset: "1-1", hashedStepId: STEP, data: ["x", { y: 1 }] };
    expect(encodeDataPayload(STEP, JSON.stringify(frame.data))).toBe(encodeFramePayload(frame));
  });
});

describe("encodeFrame", () => {
  it.each(examples.map(([frame, text]) => [frame.type, frame, text] as const))("encodes a %s frame exactly", (_type, frame, text) => {
    expect(encodeFrame(frame)).toBe(text);
    expect(encodeFramePayload(frame)).toBe(text.slice(text.indexOf("data: ") + 6, -2));
  });

  it("round-trips every example through the decoder", () => {
    const text = examples.map(([frame]) => encodeFrame(frame)).join("");
    expect(decodeAll([encoder.encode(text)])).toEqual({ frames: examples.map(([frame]) => frame), errors: [] });
  });

  it("writes exactly the input of the canonical test vectors", () => {
    const vectors = vectorsJson as unknown as ReadonlyArray<{ name: string; input: string; frames: Frame[] }>;
    const canonical = vectors.filter((vector) =>
      [
        "metadata frame",
        "data frame: object chunk",
        "data frame: chunk streamed outside any step (null step)",
        "commit frame for a step",
        "rollback frame that will be retried",
        "redirect frames with every reason",
        "result frame with a text body",
        "result frame with a base64 body and two set-cookie headers",
        "a whole run in one chunk",
      ].includes(vector.name),
    );
    expect(canonical).toHaveLength(9);
    for (const vector of canonical) {
      expect(vector.frames.map(encodeFrame).join(""), vector.name).toBe(vector.input);
    }
  });

  it("keeps line breaks in data, URLs and error messages inside the JSON, so an event stays three lines", () => {
    const frames: Frame[] = [
      { type: "data", offset: "1-1", hashedStepId: null, data: "a\nb\rc\r\nd\u2028" },
      { type: "rollback", offset: "1-2", hashedStepId: null, attempt: 1, willRetry: true, error: { name: "E", message: "x\n\ny" } },
      { type: "redirect", url: "/w?\n", reason: "retry" },
    ];
    for (const frame of frames) {
      const text = encodeFrame(frame);
      expect(text).not.toContain("\r");
      expect(text.split("\n").length, frame.type).toBe(frame.type === "redirect" ? 4 : 5);
    }
    expect(decodeAll([frames.map(encodeFrame).join("")])).toEqual({ frames, errors: [] });
  });

  it("rejects data that JSON cannot carry", () => {
    expect(() => encodeFrame({ type: "data", offset: "1-1", hashedStepId: null, data: undefined })).toThrow(InvalidOptionsError);
    expect(() => encodeFrame({ type: "data", offset: "1-1", hashedStepId: null, data: () => 1 })).toThrow(InvalidOptionsError);
  });
});

describe("PROTOCOL.md", () => {
  const document = readFileSync(new URL("../PROTOCOL.md", import.meta.url), "utf8");
  const blocks = [...document.matchAll(/```\n(event: [\s\S]*?)```/g)].map((match) => match[1]!);

  it("shows an example of every frame type", () => {
    const types = blocks.map((example) => /^event: (\S+)/.exec(example)![1]);
    expect(new Set(types)).toEqual(new Set(["metadata", "data", "commit", "rollback", "redirect", "result"]));
  });

  it.each(blocks.map((example) => [example.slice(0, example.indexOf("\n")), example] as const))(
    "has an example that decodes cleanly and is exactly what the encoder writes (%s)",
    (_event, example) => {
      const decoded = decodeAll([example]);
      expect(decoded.errors).toEqual([]);
      expect(decoded.frames).toHaveLength(1);
      expect(encodeFrame(decoded.frames[0]!)).toBe(example);
    },
  );
});

describe("encodeComment", () => {
  it("writes a comment line and a blank line; KEEP_ALIVE_COMMENT is one", () => {
    expect(encodeComment("keep-alive")).toBe(": keep-alive\n\n");
    expect(KEEP_ALIVE_COMMENT).toBe(encodeComment("keep-alive"));
  });

  it("rejects line breaks, which would end the comment early", () => {
    expect(() => encodeComment("a\nb")).toThrow(InvalidOptionsError);
    expect(() => encodeComment("a\rb")).toThrow(InvalidOptionsError);
  });

  it("is invisible to the decoder between frames", () => {
    const comments: string[] = [];
    const frames: Frame[] = [];
    const decoder = createFrameDecoder({ onFrame: (frame) => frames.push(frame), onComment: (comment) => comments.push(comment) });
    decoder.feed(`${KEEP_ALIVE_COMMENT}${encodeFrame(examples[5]![0])}${encodeComment("ping 1")}${encodeFrame(examples[6]![0])}`);
    expect(frames).toEqual([examples[5]![0], examples[6]![0]]);
    expect(comments).toEqual(["keep-alive", "ping 1"]);
  });
});

describe("round trip (property)", () => {
  const text = fc.string({ unit: "binary", maxLength: 40 });
  const nonEmptyText = fc.string({ unit: "binary", minLength: 1, maxLength: 40 });
  const offset = fc.tuple(fc.nat({ max: 999_999_999_999_999 }), fc.nat({ max: 999_999_999_999_999 })).map(([epoch, sequence]) => `${epoch}-${sequence}`);
  const step = fc.option(fc.stringMatching(/^[0-9a-f]{40}$/), { nil: null });
  const wireError = fc.record({ name: text, message: text });
  const header = fc.tuple(fc.string({ unit: "grapheme-ascii", maxLength: 20 }), text);
  const frame: fc.Arbitrary<Frame> = fc.oneof(
    fc.record({
      type: fc.constant("metadata" as const),
      runId: nonEmptyText,
      protocolVersion: fc.constant(1),
      resumeUrl: fc.option(text, { nil: null }),
    }),
    fc.record({
      type: fc.constant("data" as const),
      offset,
      hashedStepId: step,
      data: fc.jsonValue({ stringUnit: "binary", maxDepth: 3 }),
    }),
    fc.record({ type: fc.constant("commit" as const), offset, hashedStepId: step }),
    fc.record({
      type: fc.constant("rollback" as const),
      offset,
      hashedStepId: step,
      attempt: fc.integer({ min: 1, max: 1000 }),
      willRetry: fc.boolean(),
      error: wireError,
    }),
    fc.record({
      type: fc.constant("redirect" as const),
      url: nonEmptyText,
      reason: fc.constantFrom("sleep", "wait-for-event", "retry", "max-duration", "shutdown" as const),
    }),
    fc.record({
      type: fc.constant("result" as const),
      offset,
      status: fc.constantFrom("succeeded", "failed" as const),
      response: fc.record({
        status: fc.integer({ min: 200, max: 599 }),
        statusText: text,
        headers: fc.array(header, { maxLength: 4 }),
        body: text,
        bodyEncoding: fc.constantFrom("text", "base64" as const),
      }),
    }),
  );
  const cuts = fc.array(fc.nat(), { maxLength: 12 });

  /** Turns arbitrary numbers into sorted, distinct cut positions inside `length` bytes. */
  function positions(raw: readonly number[], length: number): number[] {
    if (length < 2) return [];
    return [...new Set(raw.map((value) => 1 + (value % (length - 1))))].sort((a, b) => a - b);
  }

  function split(bytes: Uint8Array, at: readonly number[]): Uint8Array[] {
    const chunks: Uint8Array[] = [];
    let start = 0;
    for (const position of at) {
      chunks.push(bytes.subarray(start, position));
      start = position;
    }
    chunks.push(bytes.subarray(start));
    return chunks;
  }

  it("decodes what was encoded, however the bytes are cut", () => {
    fc.assert(
      fc.property(fc.array(frame, { minLength: 1, maxLength: 8 }), cuts, fc.boolean(), (frames, rawCuts, keepAlives) => {
        const text = frames.map(encodeFrame).join(keepAlives ? KEEP_ALIVE_COMMENT : "");
        const bytes = encoder.encode(text);
        const decoded = decodeAll(split(bytes, positions(rawCuts, bytes.length)));
        // Compared with a JSON copy: JSON carries -0 as 0.
        expect(decoded).toEqual({ frames: JSON.parse(JSON.stringify(frames)) as Frame[], errors: [] });
      }),
      { numRuns: 300 },
    );
  });

  it("decodes the same with CRLF or lone CR line endings", () => {
    fc.assert(
      fc.property(fc.array(frame, { minLength: 1, maxLength: 5 }), cuts, fc.constantFrom("\r\n", "\r"), (frames, rawCuts, lineEnd) => {
        const text = frames.map(encodeFrame).join("").replaceAll("\n", lineEnd);
        const bytes = encoder.encode(text);
        const decoded = decodeAll(split(bytes, positions(rawCuts, bytes.length)));
        expect(decoded).toEqual({ frames: JSON.parse(JSON.stringify(frames)) as Frame[], errors: [] });
      }),
      { numRuns: 200 },
    );
  });
});

describe("createDataPayloadEncoder", () => {
  it("builds the same payload as encodeDataPayload, for a step and for null", () => {
    const hash = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3";
    for (const json of ['"token"', "42", '{"a":[1,"é"]}', "null"]) {
      expect(createDataPayloadEncoder(hash)(json)).toBe(encodeDataPayload(hash, json));
      expect(createDataPayloadEncoder(null)(json)).toBe(encodeDataPayload(null, json));
    }
  });
});
