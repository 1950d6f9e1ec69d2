// @vitest-environment happy-dom
import { createElement, useEffect, type ReactElement } from "react";
import { renderToString } from "react-dom/server";
import { afterEach, describe, expect, it, vi } from "vitest";
import { useDurableStream } from "./use-durable-stream.js";

/** Globals a server does not have, replaced while rendering by getters that count their reads. */
const BROWSER_GLOBALS = ["window", "sessionStorage", "localStorage"] as const;
const saved = new Map<string, PropertyDescriptor | undefined>();

function hideBrowserGlobals(): Record<string, number> {
  const reads: Record<string, number> = {};
  for (const name of BROWSER_GLOBALS) {
    saved.set(name, Object.getOwnPropertyDescriptor(globalThis, name));
    reads[name] = 0;
    Object.defineProperty(globalThis, name, {
      configurable: true,
      get: () => {
        reads[name] = (reads[name] ?? 0) + 1;
        return undefined;
      },
    });
  }
  return reads;
}

function restoreBrowserGlobals(): void {
  for (const [name, descriptor] of saved) {
    if (descriptor === undefined) delete (globalThis as Record<string, unknown>)[name];
    else Object.defineProperty(globalThis, name, descriptor);
  }
  saved.clear();
}

afterEach(restoreBrowserGlobals);

function Message(): ReactElement {
  const { status, committedText, uncommittedText, start } = useDurableStream<string>({
    url: "/api/chat",
    fetchOpts: { method: "POST" },
    persistKey: "chat",
  });
  useEffect(() => {
    void start();
  }, [start]);
  return createElement("p", { "data-status": status }, committedText, createElement("span", { style: { opacity: 0.5 } }, uncommittedText));
}

describe("useDurableStream on the server", () => {
  it("renders the initial snapshot without touching window or storage, and starts nothing", () => {
    const fetchSpy = vi.fn();
    vi.stubGlobal("fetch", fetchSpy);
    const reads = hideBrowserGlobals();
    let html: string;
    try {
      html = renderToString(createElement(Message));
    } finally {
      restoreBrowserGlobals();
      vi.unstubAllGlobals();
    }
    expect(html).toContain('data-status="idle"');
    expect(reads).toEqual({ window: 0, sessionStorage: 0, localStorage: 0 });
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});
