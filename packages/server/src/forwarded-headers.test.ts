import { describe, expect, it } from "vitest";
import { isPlainHost, readForwarded } from "./forwarded-headers.js";

function read(headers: Record<string, string | string[]>) {
  return readForwarded((name) => headers[name]);
}

describe("readForwarded", () => {
  it("takes the first value of each header, trimmed", () => {
    expect(read({ "x-forwarded-host": " chat.example , inner", "x-forwarded-proto": "https, http" })).toEqual({ host: "chat.example", protocol: "https" });
    expect(read({ "x-forwarded-host": ["a.example, b.example", "c.example"], "x-forwarded-proto": ["http"] })).toEqual({ host: "a.example", protocol: "http" });
  });

  it("accepts only http and https (in any case) as the protocol", () => {
    expect(read({ "x-forwarded-proto": "HTTPS" }).protocol).toBe("https");
    expect(read({ "x-forwarded-proto": "gopher" }).protocol).toBeUndefined();
    expect(read({ "x-forwarded-proto": "" }).protocol).toBeUndefined();
  });

  it("accepts only a plain host with an optional port", () => {
    expect(read({ "x-forwarded-host": "[::1]:8080" }).host).toBe("[::1]:8080");
    expect(read({ "x-forwarded-host": "user@evil.example" }).host).toBeUndefined();
    expect(read({ "x-forwarded-host": "evil.example/path" }).host).toBeUndefined();
    expect(read({}).host).toBeUndefined();
  });

  it("isPlainHost refuses what could move the path or add userinfo", () => {
    expect(isPlainHost("app.example:3000")).toBe(true);
    expect(isPlainHost("10.0.0.7")).toBe(true);
    for (const host of ["a@b", "a/b", "a?b", "a#b", "a\\b", "a b", ""]) expect(isPlainHost(host), host).toBe(false);
  });
});
