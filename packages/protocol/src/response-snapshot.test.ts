import { describe, expect, it } from "vitest";
import { createFrameDecoder } from "./decode.js";
import { ProtocolError } from "./errors.js";
import { encodeFrame } from "./encode.js";
import type { Frame, ResponseSnapshot } from "./frames.js";
import { responseFromSnapshot, snapshotResponse } from "./response-snapshot.js";

const bytesOf = async (response: Response) => new Uint8Array(await response.arrayBuffer());

describe("snapshotResponse", () => {
  it("captures status, status text, headers with both set-cookie values, and a text body", async () => {
    const headers = new Headers();
    headers.append("X-Custom", "v");
    headers.append("Set-Cookie", "a=1; Path=/");
    headers.append("Content-Type", "application/json");
    headers.append("Set-Cookie", "b=2; HttpOnly");
    const snapshot = await snapshotResponse(new Response('{"ok":true}', { status: 201, statusText: "Created", headers }));
    expect(snapshot).toEqual({
      status: 201,
      statusText: "Created",
      // Headers iterate lower-cased and sorted by name; set-cookie values stay separate, in order.
      headers: [
        ["content-type", "application/json"],
        ["set-cookie", "a=1; Path=/"],
        ["set-cookie", "b=2; HttpOnly"],
        ["x-custom", "v"],
      ],
      body: '{"ok":true}',
      bodyEncoding: "text",
    });
  });

  it("keeps a body that is valid UTF-8 as text, multibyte characters and a leading BOM included", async () => {
    const snapshot = await snapshotResponse(new Response(Uint8Array.of(0xef, 0xbb, 0xbf, 0x41, 0xc3, 0xa9)));
    expect(snapshot.bodyEncoding).toBe("text");
    expect(snapshot.body).toBe("\uFEFFAé");
  });

  it("sends a body that is not valid UTF-8 as base64", async () => {
    const snapshot = await snapshotResponse(new Response(Uint8Array.of(0xff, 0xfe, 0x00, 0x80)));
    expect(snapshot.bodyEncoding).toBe("base64");
    expect(snapshot.body).toBe("//4AgA==");
  });

  it("uses base64 when the body ends in a truncated character", async () => {
    const snapshot = await snapshotResponse(new Response(Uint8Array.of(0x61, 0x62, 0xe4, 0xb8)));
    expect(snapshot).toMatchObject({ body: "YWLkuA==", bodyEncoding: "base64" });
  });

  it("encodes a large binary body, past the 32 KiB batches of the base64 encoder", async () => {
    const bytes = new Uint8Array(100_003);
    for (let index = 0; index < bytes.length; index += 1) bytes[index] = (index * 7919 + 0x80) & 0xff;
    const snapshot = await snapshotResponse(new Response(bytes));
    expect(snapshot.bodyEncoding).toBe("base64");
    expect(snapshot.body).toBe(Buffer.from(bytes).toString("base64"));
  });

  it("captures a 204 as an empty text body and consumes the response", async () => {
    const response = new Response(null, { status: 204, statusText: "No Content" });
    expect(await snapshotResponse(response)).toEqual({
      status: 204,
      statusText: "No Content",
      headers: [],
      body: "",
      bodyEncoding: "text",
    });
    expect(response.bodyUsed).toBe(false); // a null body cannot be used
    const withBody = new Response("x");
    await snapshotResponse(withBody);
    expect(withBody.bodyUsed).toBe(true);
  });
});

describe("snapshotResponse with maxBodyBytes", () => {
  /** A body of `chunks` chunks of `size` bytes (or endless), counting pulls and noting a cancel. */
  function body(size: number, chunks = Number.POSITIVE_INFINITY) {
    const state = { pulled: 0, cancelled: undefined as unknown };
    const stream = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (state.pulled >= chunks) return controller.close();
          state.pulled += 1;
          controller.enqueue(new Uint8Array(size).fill(0x61));
        },
        cancel(reason) {
          state.cancelled = reason;
        },
      },
      { highWaterMark: 0 },
    );
    return { state, stream };
  }

  it("reads a body of exactly maxBodyBytes, in several chunks, as text", async () => {
    const { stream } = body(1000, 10);
    const snapshot = await snapshotResponse(new Response(stream, { status: 201 }), { maxBodyBytes: 10_000 });
    expect(snapshot).toMatchObject({ status: 201, body: "a".repeat(10_000), bodyEncoding: "text" });
  });

  it("stops reading past maxBodyBytes, cancels the body and rejects with BODY_TOO_LARGE", async () => {
    const { state, stream } = body(1000);
    const error = await snapshotResponse(new Response(stream), { maxBodyBytes: 10_000 }).catch((caught: unknown) => caught);
    expect(ProtocolError.isInstance(error) && error.code).toBe("BODY_TOO_LARGE");
    expect((error as Error).message).toMatch(/larger than 10000 bytes/);
    expect(state.pulled).toBe(11);
    expect(state.cancelled).toBe(error);
  });

  it("reads null and empty bodies, and leaves a limit of Infinity unlimited", async () => {
    expect((await snapshotResponse(new Response(null, { status: 204 }), { maxBodyBytes: 0 })).body).toBe("");
    expect((await snapshotResponse(new Response(""), { maxBodyBytes: 0 })).body).toBe("");
    await expect(snapshotResponse(new Response("x"), { maxBodyBytes: 0 })).rejects.toMatchObject({ code: "BODY_TOO_LARGE" });
    expect((await snapshotResponse(new Response("y".repeat(5000)), { maxBodyBytes: Number.POSITIVE_INFINITY })).body).toHaveLength(5000);
  });

  it("refuses a body that was already read", async () => {
    const response = new Response("used");
    await response.text();
    await expect(snapshotResponse(response, { maxBodyBytes: 100 })).rejects.toMatchObject({ name: "InvalidOptionsError", code: "INVALID_OPTIONS" });
  });
});

describe("responseFromSnapshot", () => {
  it("rebuilds status, status text, repeated headers and a text body", async () => {
    const response = responseFromSnapshot({
      status: 418,
      statusText: "I'm a teapot",
      headers: [
        ["content-type", "text/plain; charset=utf-8"],
        ["set-cookie", "a=1"],
        ["set-cookie", "b=2"],
      ],
      body: "short and stout ☕",
      bodyEncoding: "text",
    });
    expect(response.status).toBe(418);
    expect(response.statusText).toBe("I'm a teapot");
    expect(response.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(await response.text()).toBe("short and stout ☕");
  });

  it("adds no header of its own to a text body", () => {
    const response = responseFromSnapshot({ status: 200, statusText: "OK", headers: [], body: "plain", bodyEncoding: "text" });
    expect([...response.headers]).toEqual([]);
  });

  it("decodes a base64 body to its exact bytes", async () => {
    const response = responseFromSnapshot({ status: 200, statusText: "", headers: [], body: "//4AgA==", bodyEncoding: "base64" });
    expect(await bytesOf(response)).toEqual(Uint8Array.of(0xff, 0xfe, 0x00, 0x80));
  });

  it("decodes a content-encoding body as fetch does (headers kept), and leaves it as stored with decode: false", async () => {
    const json = JSON.stringify({ answer: "中文 😀" });
    const gzipped = await bytesOf(new Response(new Blob([json]).stream().pipeThrough(new CompressionStream("gzip"))));
    const snapshot = await snapshotResponse(new Response(gzipped, { headers: { "content-type": "application/json", "content-encoding": "gzip" } }));
    expect(snapshot.bodyEncoding).toBe("base64");
    const rebuilt = responseFromSnapshot(snapshot);
    expect(rebuilt.headers.get("content-encoding")).toBe("gzip");
    expect(await rebuilt.json()).toEqual({ answer: "中文 😀" });
    expect(await bytesOf(responseFromSnapshot(snapshot, { decode: false }))).toEqual(gzipped);
  });

  it("undoes a list of encodings last to first, and leaves an encoding it cannot undo as stored", async () => {
    const deflated = await bytesOf(new Response(new Blob(["twice"]).stream().pipeThrough(new CompressionStream("deflate"))));
    const both = await bytesOf(new Response(new Blob([deflated]).stream().pipeThrough(new CompressionStream("gzip"))));
    const snapshotOf = (bytes: Uint8Array, encoding: string): ResponseSnapshot => ({
      status: 200,
      statusText: "",
      headers: [["content-encoding", encoding]],
      body: btoa(String.fromCharCode(...bytes)),
      bodyEncoding: "base64",
    });
    expect(await responseFromSnapshot(snapshotOf(both, "deflate, GZIP")).text()).toBe("twice");
    expect(await bytesOf(responseFromSnapshot(snapshotOf(both, "zstd")))).toEqual(both);
    expect(await bytesOf(responseFromSnapshot(snapshotOf(both, "identity")))).toEqual(both);
  });

  it("rejects reading a body that is not valid for its content-encoding, as fetch does", async () => {
    const response = responseFromSnapshot({ status: 200, statusText: "", headers: [["content-encoding", "gzip"]], body: "not gzip", bodyEncoding: "text" });
    await expect(response.text()).rejects.toThrow();
  });

  it.each([204, 205, 304])("gives a %i a null body", (status) => {
    const response = responseFromSnapshot({ status, statusText: "", headers: [], body: "", bodyEncoding: "text" });
    expect(response.status).toBe(status);
    expect(response.body).toBeNull();
  });
});

describe("snapshot round trip", () => {
  async function roundTrip(original: () => Response): Promise<void> {
    const snapshot = await snapshotResponse(original());
    const rebuilt = responseFromSnapshot(snapshot);
    const expected = original();
    expect(rebuilt.status).toBe(expected.status);
    expect(rebuilt.statusText).toBe(expected.statusText);
    expect([...rebuilt.headers]).toEqual([...expected.headers]);
    expect(rebuilt.headers.getSetCookie()).toEqual(expected.headers.getSetCookie());
    expect(await bytesOf(rebuilt)).toEqual(await bytesOf(expected));
  }

  it("keeps a JSON response with two cookies", async () => {
    await roundTrip(() => {
      const headers = new Headers([["content-type", "application/json"]]);
      headers.append("set-cookie", "session=abc; Secure");
      headers.append("set-cookie", "theme=dark");
      return new Response(JSON.stringify({ answer: "中文 😀" }), { status: 200, statusText: "OK", headers });
    });
  });

  it("keeps a binary, non-UTF-8 body byte for byte", async () => {
    await roundTrip(() => new Response(Uint8Array.of(0, 1, 2, 0xc0, 0xc1, 0xf5, 0xff, 0x80, 0x7f), { status: 500 }));
  });

  it("keeps a body with a BOM byte for byte", async () => {
    await roundTrip(() => new Response(Uint8Array.of(0xef, 0xbb, 0xbf, 0x68, 0x69)));
  });

  it("keeps a 204", async () => {
    await roundTrip(() => new Response(null, { status: 204 }));
  });

  it("survives the wire inside a result frame", async () => {
    const cookies = new Headers();
    cookies.append("set-cookie", "a=1");
    cookies.append("set-cookie", "b=2");
    const bytes = Uint8Array.of(0xff, 0x00, 0xfe, 0x0a, 0x0d);
    const snapshot: ResponseSnapshot = await snapshotResponse(new Response(bytes, { status: 202, headers: cookies }));
    const frames: Frame[] = [];
    const decoder = createFrameDecoder({ onFrame: (frame) => frames.push(frame) });
    decoder.feed(new TextEncoder().encode(encodeFrame({ type: "result", offset: "1-1", status: "succeeded", response: snapshot })));
    decoder.end();
    expect(frames).toHaveLength(1);
    const frame = frames[0]!;
    if (frame.type !== "result") throw new Error(`expected a result frame, got ${frame.type}`);
    const rebuilt = responseFromSnapshot(frame.response);
    expect(rebuilt.status).toBe(202);
    expect(rebuilt.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(await bytesOf(rebuilt)).toEqual(bytes);
  });
});
