import { describe, expect, it } from "vitest";
import { isJsonMediaType, readResult } from "./durable-stream-result.js";

describe("readResult", () => {
  it("parses JSON bodies, keeps other bodies as text, and falls back to text for invalid JSON", async () => {
    const json = await readResult(new Response('{"a":1}', { headers: { "content-type": "application/json; charset=utf-8" } }), undefined);
    expect(json).toEqual({ status: 200, statusText: "", headers: [["content-type", "application/json; charset=utf-8"]], body: { a: 1 } });
    const text = await readResult(new Response('{"a":1}', { headers: { "content-type": "text/plain" } }), undefined);
    expect(text.body).toBe('{"a":1}');
    const broken = await readResult(new Response("{oops", { headers: { "content-type": "application/json" } }), undefined);
    expect(broken.body).toBe("{oops");
    const empty = await readResult(new Response(null, { status: 204, headers: { "content-type": "application/json" } }), undefined);
    expect(empty).toMatchObject({ status: 204, body: "" });
  });

  it("takes the headers from the result frame's snapshot, repeats and order kept", async () => {
    const headers = [
      ["set-cookie", "a=1"],
      ["content-type", "application/json"],
      ["set-cookie", "b=2"],
    ] as const;
    const result = await readResult(new Response("[1]", { headers: { "content-type": "application/json" } }), {
      status: 200,
      statusText: "OK",
      headers,
      body: "[1]",
      bodyEncoding: "text",
    });
    expect(result.headers).toBe(headers);
    expect(result.body).toEqual([1]);
  });
});

describe("isJsonMediaType", () => {
  it("recognizes application/json and +json types", () => {
    expect(isJsonMediaType("application/json")).toBe(true);
    expect(isJsonMediaType("Application/JSON ; charset=utf-8")).toBe(true);
    expect(isJsonMediaType("application/problem+json")).toBe(true);
    expect(isJsonMediaType("text/json-ish")).toBe(false);
    expect(isJsonMediaType("text/plain")).toBe(false);
  });
});
