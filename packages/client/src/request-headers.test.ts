import { describe, expect, it } from "vitest";
import { acceptsEventStream, createRequestHeaders, createResumeHeaders } from "./request-headers.js";

describe("createRequestHeaders", () => {
  it("sets Accept when the caller gives no headers, or an empty Accept", () => {
    expect(createRequestHeaders().get("accept")).toBe("text/event-stream");
    expect(createRequestHeaders(null).get("accept")).toBe("text/event-stream");
    expect(createRequestHeaders({ accept: " " }).get("accept")).toBe("text/event-stream");
  });

  it.each([
    [
      "Headers",
      new Headers([
        ["X-A", "1"],
        ["Accept", "application/json"],
      ]),
    ],
    [
      "pairs",
      [
        ["X-A", "1"],
        ["Accept", "application/json"],
      ] satisfies [string, string][],
    ],
    ["object", { "X-A": "1", Accept: "application/json" }],
  ])("merges with %s and appends to the caller's Accept", (_shape, init) => {
    const headers = createRequestHeaders(init);

    expect([...headers]).toEqual([
      ["accept", "application/json, text/event-stream"],
      ["x-a", "1"],
    ]);
  });

  it("keeps repeated headers the caller gave as pairs", () => {
    const headers = createRequestHeaders([
      ["X-Tag", "a"],
      ["X-Tag", "b"],
    ]);

    expect(headers.get("x-tag")).toBe("a, b");
  });

  it("keeps an Accept that already lists text/event-stream", () => {
    expect(createRequestHeaders({ Accept: "application/json, TEXT/EVENT-STREAM; q=0.5" }).get("accept")).toBe("application/json, TEXT/EVENT-STREAM; q=0.5");
  });

  it("appends to wildcards, which a server cannot tell from a plain fetch", () => {
    expect(createRequestHeaders({ Accept: "*/*" }).get("accept")).toBe("*/*, text/event-stream");
  });
});

describe("acceptsEventStream", () => {
  it.each([
    ["text/event-stream", true],
    ["application/json,text/event-stream;q=0.9", true],
    [" Text/Event-Stream ", true],
    ["text/*", false],
    ["*/*", false],
    ["text/event-streams", false],
    ["application/json", false],
  ])("%j → %s", (accept, expected) => {
    expect(acceptsEventStream(accept)).toBe(expected);
  });
});

describe("createResumeHeaders", () => {
  it("asks for a stream and resumes after the last offset", () => {
    expect([...createResumeHeaders("2-17")]).toEqual([
      ["accept", "text/event-stream"],
      ["last-event-id", "2-17"],
    ]);
  });

  it("leaves Last-Event-ID out when nothing was received", () => {
    expect([...createResumeHeaders(undefined)]).toEqual([["accept", "text/event-stream"]]);
  });
});
