import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
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

  it("leaves the Web body as it was: the source is an own, non-enumerable property", async () => {
    const response = attachTextBody(new Response("web body"), source());
    expect(Object.keys(response)).toEqual([]);
    expect(await response.text()).toBe("web body");
  });

  it("is the only module that knows the symbol (the contract lives in text-body.ts)", () => {
    const root = fileURLToPath(new URL(".", import.meta.url));
    const sources = (readdirSync(root, { recursive: true }) as string[]).filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"));
    const knowing = sources.filter((file) => readFileSync(join(root, file), "utf8").includes("durastream.textBody"));
    expect(knowing.map((file) => relative(root, join(root, file)))).toEqual(["text-body.ts"]);
  });
});
