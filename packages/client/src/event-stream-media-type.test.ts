import { describe, expect, it } from "vitest";
import { isEventStreamMediaType, isEventStreamResponse } from "./event-stream-media-type.js";

describe("isEventStreamMediaType", () => {
  it.each([
    ["text/event-stream", true],
    ["TEXT/Event-Stream", true],
    ["text/event-stream; charset=utf-8", true],
    ["  text/event-stream ;charset=utf-8", true],
    ["text/event-streamx", false],
    ["text/plain", false],
    ["application/json; profile=text/event-stream", false],
    ["", false],
    [null, false],
    [undefined, false],
  ])("%j → %s", (value, expected) => {
    expect(isEventStreamMediaType(value)).toBe(expected);
  });
});

describe("isEventStreamResponse", () => {
  it("reads the response's Content-Type", () => {
    expect(isEventStreamResponse(new Response("", { headers: { "content-type": "text/event-stream" } }))).toBe(true);
    expect(isEventStreamResponse(new Response("{}", { headers: { "content-type": "application/json" } }))).toBe(false);
    expect(isEventStreamResponse(new Response(null))).toBe(false);
  });
});
