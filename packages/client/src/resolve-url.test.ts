import { afterEach, describe, expect, it, vi } from "vitest";
import { resolveUrl } from "./resolve-url.js";

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("resolveUrl", () => {
  it("resolves relative URLs against the base", () => {
    expect(resolveUrl("/api/durable/1?token=t", "https://app.example/api/chat")).toBe("https://app.example/api/durable/1?token=t");
    expect(resolveUrl("wait", "https://app.example/api/chat")).toBe("https://app.example/api/wait");
  });

  it("keeps absolute URLs, whatever the base", () => {
    expect(resolveUrl("https://other.example/x", "https://app.example/")).toBe("https://other.example/x");
    expect(resolveUrl("https://other.example/x", "relative/base")).toBe("https://other.example/x");
  });

  it("returns a relative URL unchanged when there is no absolute base (Node without a page)", () => {
    expect(resolveUrl("/api/chat")).toBe("/api/chat");
    expect(resolveUrl("wait", "/api/chat")).toBe("wait");
  });

  it("resolves against the page's address in a browser", () => {
    vi.stubGlobal("location", { href: "https://page.example/chat/room" });

    expect(resolveUrl("/api/chat")).toBe("https://page.example/api/chat");
    expect(resolveUrl("wait", "/api/chat")).toBe("https://page.example/api/wait");
  });
});
