// The browser example in headless Chromium (driven by playwright-core): the page from index.html,
// served by server.ts with the esbuild-bundled client, asks a question; the test holds the model's
// stream at chosen points with server-side gates and checks the page at each: the failed attempt's
// text is shown dimmed, disappears on the rollback, and the retry's text is committed exactly once.
// It waits on DOM conditions and server events, never on time.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { AnyLanguageModel, MockLanguageModel } from "@durastream/ai";
import type { Browser, Page } from "playwright-core";
import { chromiumFound, chromiumInstallHint, createGates, launchChromium, skipBrowserTests } from "@durastream/test-browser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleClient, createApp, replyTo } from "./server.js";

/** Longest wait for one condition: a bound for a failure, not a pace (conditions hold in milliseconds). */
const TIMEOUT = 10_000;

/** Skipped only off CI on a machine without Chromium; in CI a missing Chromium fails. */
const skip = skipBrowserTests;
if (skip) console.warn(`[examples/browser test skipped] ${chromiumInstallHint}`);

/**
 * Wraps a model: `beforeStart` runs before its stream starts, `beforeError` before an error stream
 * part (or a stream error) is passed on; `deltas` records the text deltas passed on.
 */
function holdModel(
  model: MockLanguageModel,
  hooks: { beforeStart?: () => Promise<void>; beforeError?: () => Promise<void>; deltas: string[] },
): AnyLanguageModel {
  const wrapped = Object.create(model) as MockLanguageModel;
  wrapped.doStream = async (options) => {
    await hooks.beforeStart?.();
    const result = await model.doStream(options);
    const reader = result.stream.getReader();
    const stream = new ReadableStream({
      async pull(controller) {
        let next: Awaited<ReturnType<typeof reader.read>>;
        try {
          next = await reader.read();
        } catch (error) {
          await hooks.beforeError?.();
          controller.error(error);
          return;
        }
        if (next.done) return controller.close();
        if (next.value.type === "error") await hooks.beforeError?.();
        if (next.value.type === "text-delta") hooks.deltas.push(next.value.delta);
        controller.enqueue(next.value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return { ...result, stream };
  };
  return wrapped;
}

interface PageState {
  status: string;
  committed: string;
  uncommitted: string;
  events: string;
  result: string;
  error: string;
}

describe.skipIf(skip)("browser example in headless Chromium", () => {
  let browser: Browser | undefined;
  let setupError: unknown;

  beforeAll(async () => {
    try {
      if (!chromiumFound) throw new Error(chromiumInstallHint); // in CI: fail, never skip
      browser = await launchChromium();
    } catch (error) {
      setupError = error;
    }
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
  });

  async function start(app: Server): Promise<string> {
    await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  }

  function stop(app: Server): void {
    app.closeAllConnections();
    app.close();
  }

  async function state(page: Page): Promise<PageState> {
    return page.evaluate(() => {
      const text = (id: string) => document.getElementById(id)?.textContent ?? "";
      return {
        status: text("status"),
        committed: text("committed"),
        uncommitted: text("uncommitted"),
        events: text("events"),
        result: text("result"),
        error: text("error"),
      };
    });
  }

  /** Waits (in the page, on every animation frame) until every given element shows what is given. */
  async function until(page: Page, what: string, expected: Partial<Record<keyof PageState, string>>, log: string[]): Promise<void> {
    try {
      await page.waitForFunction((want) => Object.entries(want).every(([id, value]) => (document.getElementById(id)?.textContent ?? "") === value), expected, {
        timeout: TIMEOUT,
      });
    } catch (error) {
      if (!(error instanceof Error && error.name === "TimeoutError")) throw error;
      throw new Error(
        `Waiting for ${what}: wanted ${JSON.stringify(expected)}, the page shows ${JSON.stringify(await state(page))}.\nBrowser log:\n${log.join("\n") || "(empty)"}`,
      );
    }
  }

  it("shows the failed attempt's text dimmed, removes it on the rollback, and commits the retry's text exactly once", async () => {
    if (setupError !== undefined) throw setupError;
    const gates = createGates({ timeout: TIMEOUT });
    const deltas: string[][] = [];
    const app = await createApp({
      tokenDelayMs: 0,
      failAfterTokens: 5,
      durable: { backoff: () => 0 },
      wrapModel: (model, attempt) => {
        const attemptDeltas: string[] = [];
        deltas[attempt] = attemptDeltas;
        return holdModel(model, {
          deltas: attemptDeltas,
          // Attempt 1 holds its failure; attempt 2 waits to start: the test looks at the page in between.
          beforeError: attempt === 1 ? () => gates.wait("fail") : undefined,
          beforeStart: attempt === 2 ? () => gates.wait("retry") : undefined,
        });
      },
    });
    const context = await browser!.newContext({ viewport: { width: 800, height: 600 } });
    const log: string[] = [];
    try {
      const origin = await start(app);
      const page = await context.newPage();
      page.on("console", (message) => log.push(`console.${message.type()}: ${message.text()}`));
      page.on("pageerror", (error) => log.push(`pageerror: ${error.message}`));
      // Records every committed text the page shows, to check each is a prefix of the final one.
      await page.addInitScript(() => {
        const seen: string[] = [];
        (window as unknown as { committedSeen: string[] }).committedSeen = seen;
        addEventListener("DOMContentLoaded", () => {
          const committed = document.getElementById("committed")!;
          new MutationObserver(() => seen.push(committed.textContent ?? "")).observe(committed, { childList: true, characterData: true, subtree: true });
        });
      });
      await page.goto(origin);
      await until(page, "the page to load", { status: "idle" }, log);

      const prompt = "What does a rollback look like?";
      const answer = replyTo(prompt);
      await page.fill("#prompt", prompt);
      await page.click("#ask");

      // Attempt 1 streamed its first tokens and is about to fail: they show, dimmed, not committed.
      await gates.reached("fail");
      const failedText = deltas[1]!.join("");
      expect(deltas[1]).toHaveLength(5);
      expect(answer.startsWith(failedText)).toBe(true);
      await until(page, "the failed attempt's text, uncommitted", { uncommitted: failedText, committed: "", status: "streaming" }, log);
      const opacity = await page.$eval("#uncommitted", (element) => Number(getComputedStyle(element).opacity));
      expect(opacity).toBeLessThan(1);

      // The failure goes through: the rollback removes the text; the retry waits to start.
      gates.open("fail");
      await gates.reached("retry");
      await until(page, "the rollback", { uncommitted: "", committed: "", status: "retrying" }, log);
      expect((await state(page)).events).toContain(
        "Attempt 1 failed (the model dropped the connection (injected failure 1 of 1)): its text was rolled back; retrying…",
      );

      // The retry streams the whole answer and commits it.
      gates.open("retry");
      await until(page, "the run to finish", { status: "done" }, log);
      const final = await state(page);
      expect(final.committed).toBe(answer);
      expect(final.committed.split("You asked:").length - 1).toBe(1);
      expect(final.uncommitted).toBe("");
      expect(deltas[2]!.join("")).toBe(answer);
      const [statusLine, ...json] = final.result.split("\n");
      expect(statusLine).toBe("HTTP 200");
      expect(JSON.parse(json.join("\n"))).toMatchObject({ prompt, answer, finishReason: "stop" });

      const committedSeen = await page.evaluate(() => (window as unknown as { committedSeen: string[] }).committedSeen);
      expect(committedSeen.length).toBeGreaterThan(0);
      for (const seen of committedSeen) expect(answer.startsWith(seen), `committed text ${JSON.stringify(seen)} is not a prefix of the answer`).toBe(true);
      expect(log.filter((line) => line.startsWith("pageerror"))).toEqual([]);
    } finally {
      gates.openAll();
      await context.close();
      stop(app);
    }
  });

  it("follows a redirect to the wait endpoint on the same origin when the run sleeps", async () => {
    if (setupError !== undefined) throw setupError;
    const requests: string[] = [];
    const app = await createApp({ tokenDelayMs: 0, thinkFor: "20ms", durable: { backoff: () => 0, maxInlineWait: 0 } });
    app.prependListener("request", (request: { method?: string; url?: string }) => requests.push(`${request.method} ${request.url?.split("?")[0]}`));
    const context = await browser!.newContext();
    const log: string[] = [];
    try {
      const origin = await start(app);
      const page = await context.newPage();
      page.on("pageerror", (error) => log.push(`pageerror: ${error.message}`));
      await page.goto(origin);
      await page.selectOption("#failures", "0");
      await page.check("#pause"); // think first (20 ms here): longer than maxInlineWait (0 here)
      const prompt = "Take your time";
      await page.fill("#prompt", prompt);
      await page.click("#ask");
      await until(page, "the answer after the redirect", { status: "done", committed: replyTo(prompt), uncommitted: "" }, log);
      expect((await state(page)).events).toContain("Redirected to the wait endpoint (sleep)");
      expect(requests.filter((request) => request === "POST /api/chat")).toHaveLength(1);
      expect(requests.some((request) => /^GET \/api\/durable\/[0-9A-Z]{26}$/.test(request))).toBe(true);
    } finally {
      await context.close();
      stop(app);
    }
  }, 20_000);
});

describe("browser example server", () => {
  it("bundles @durastream/client into one browser ES module", async () => {
    const bundle = await bundleClient();
    expect(bundle).toMatch(/export\s*\{[^}]*fetchWithStream/);
    expect(bundle).not.toMatch(/\bfrom\s*["'](?!\.)/); // no bare imports left for the browser to resolve
    expect(bundle).not.toMatch(/\bimport\s*\(?\s*["']node:/);
  });
});
