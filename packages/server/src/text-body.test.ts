import { describe, expect, it } from "vitest";
import { attachTextBody, takeTextBody, type TextBodySource } from "./text-body.js";

function source(): TextBodySource {
  return { start: (sink) => sink.end(), resume: () => {}, cancel: () => {} };
}

describe("text bodies", () => {
  it("hands the source out once", () => {
    const attached = source();
    const response = attachTextBody(new Response("web body"), attached);
    expect(takeTextBody(response)).toBe(attached);
    expect(takeTextBody(response)).toBeUndefined();
  });

  it("is not handed out once the Web body was read or locked", async () => {
    const read = attachTextBody(new Response("web body"), source());
    await read.text();
    expect(takeTextBody(read)).toBeUndefined();
    const locked = attachTextBody(new Response("web body"), source());
    locked.body!.getReader();
    expect(takeTextBody(locked)).toBeUndefined();
  });

  it("is not found on responses that never had one, or that were copied", () => {
    expect(takeTextBody(new Response("plain"))).toBeUndefined();
    const original = attachTextBody(new Response("web body"), source());
    expect(takeTextBody(new Response(original.body, original))).toBeUndefined();
  });

  it("is found across copies of this module (registered symbol)", () => {
    const response = new Response("web body");
    const attached = source();
    Object.defineProperty(response, Symbol.for("durastream.textBody"), { value: attached, configurable: true });
    expect(takeTextBody(response)).toBe(attached);
  });
});
