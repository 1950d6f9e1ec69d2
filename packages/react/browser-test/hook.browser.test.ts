// useDurableStream in a real browser: headless Chromium (Debian's, driven by playwright-core) loads
// a chat page built with Vite from browser-test/main.tsx, served on one loopback origin with the
// durable endpoint (/api/chat) and its wait endpoint (/api/durable/). The server is steered by
// gates the test opens, and the test waits on DOM conditions and server events, never on time.
// Screenshots of each scenario's final page go to browser-test/artifacts/.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { step, stream } from "@durastream/server";
import { createManualTimers, passTime } from "@durastream/testing";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { chromiumFound, chromiumInstallHint, createGates, launchChromium, skipBrowserTests } from "@durastream/test-browser";
import { browserTestDirectory, buildPage, startChatServer, type ChatServer } from "./harness.js";

const PERSIST_KEY = "browser-test-chat"; // as in main.tsx
const artifacts = join(browserTestDirectory, "artifacts");
/** Longest wait for one DOM condition; a failure, not a pace: conditions are met in milliseconds. */
const DOM_TIMEOUT = 15_000;

interface RenderRecord {
  status: string;
  committed: string;
  uncommitted: string;
}

interface PageState {
  status: string;
  committed: string;
  uncommitted: string;
  result: string;
  error: string;
}

/** Skipped only off CI on a machine without Chromium; in CI a missing Chromium fails with how to install it. */
const skip = skipBrowserTests;
if (skip) console.warn(`[browser test skipped] ${chromiumInstallHint}`);

describe.skipIf(skip)("useDurableStream in headless Chromium", () => {
  let browser: Browser;
  let built: { directory: string; remove(): void } | undefined;
  let context: BrowserContext | undefined;
  let server: ChatServer | undefined;
  const browserLog: string[] = [];

  // A setup failure (no Chromium in CI, a build error) fails every test with its message, rather
  // than failing the hook and leaving the tests counted as skipped.
  let setupError: unknown;
  beforeAll(async () => {
    try {
      if (!chromiumFound) throw new Error(chromiumInstallHint); // in CI: never skip
      mkdirSync(artifacts, { recursive: true });
      [built, browser] = await Promise.all([buildPage(), launchChromium()]);
    } catch (error) {
      setupError = error;
    }
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    built?.remove();
  });

  afterEach(async () => {
    await context?.close();
    context = undefined;
    server?.close();
    server = undefined;
    browserLog.length = 0;
  });

  /** The built page; throws the setup error when there is none. */
  function pageDirectory(): string {
    if (setupError !== undefined) throw setupError;
    return built!.directory;
  }

  /** A fresh browser context (its own sessionStorage) with the page open at the server's origin. */
  async function openPage(chatServer: ChatServer): Promise<Page> {
    server = chatServer;
    if (setupError !== undefined) throw setupError;
    context = await browser.newContext({ viewport: { width: 760, height: 520 } });
    const page = await context.newPage();
    page.on("console", (message) => browserLog.push(`console.${message.type()}: ${message.text()}`));
    page.on("pageerror", (error) => browserLog.push(`pageerror: ${error.message}`));
    await page.goto(chatServer.origin);
    await until(page, "the page to render", { status: "idle" });
    return page;
  }

  async function state(page: Page): Promise<PageState> {
    return page.evaluate(() => {
      const text = (id: string) => document.querySelector(`[data-testid="${id}"]`)?.textContent ?? "";
      return { status: text("status"), committed: text("committed"), uncommitted: text("uncommitted"), result: text("result"), error: text("error") };
    });
  }

  /**
   * Waits (in the page, checked on every animation frame) until the rendered state matches; fails
   * at once when the run ended in another state, and on timeout says what the page showed.
   */
  async function until(page: Page, what: string, expected: Partial<PageState>): Promise<void> {
    let matched = false;
    try {
      matched =
        (await (
          await page.waitForFunction(
            (want) => {
              const text = (id: string) => document.querySelector(`[data-testid="${id}"]`)?.textContent ?? "";
              if (Object.entries(want).every(([id, value]) => text(id) === value)) return "matched";
              // A run that ended does not change any more: no use waiting.
              return ["succeeded", "failed", "aborted"].includes(text("status")) ? "ended" : false;
            },
            expected,
            { timeout: DOM_TIMEOUT },
          )
        ).jsonValue()) === "matched";
    } catch (error) {
      if (!(error instanceof Error && error.name === "TimeoutError")) throw error;
    }
    if (!matched) {
      throw new Error(
        `Waiting for ${what}: wanted ${JSON.stringify(expected)}, the page shows ${JSON.stringify(await state(page))}.\n` +
          `Browser log:\n${browserLog.join("\n") || "(empty)"}`,
      );
    }
  }

  async function renders(page: Page): Promise<RenderRecord[]> {
    return page.evaluate(() => window.__renders);
  }

  /** Every committed text the page ever showed is a prefix of the final one (exactly-once, in order). */
  function expectCommittedPrefixes(history: RenderRecord[], final: string): void {
    for (const record of history) {
      if (!final.startsWith(record.committed))
        throw new Error(`The page showed committed text that is not a prefix of the final text: ${JSON.stringify(record)}`);
    }
  }

  async function screenshot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
  }

  async function* words(...items: string[]) {
    yield* items;
  }

  it("a step fails once: its text shows uncommitted, is removed, and the retry's text is committed exactly once", { timeout: 45_000 }, async () => {
    const gates = createGates();
    const attempts: number[] = [];
    const chat = await startChatServer(pageDirectory(), async (request) => {
      const { prompt } = (await request.json()) as { prompt: string };
      const intro = await step.run("intro", () => stream.pipe(words("You asked: ", prompt, ". ")));
      const answer = await step.run("answer", async ({ attempt }) => {
        attempts.push(attempt);
        if (attempt === 1) {
          stream.push("(draft 1) ");
          stream.push("this draft will fail");
          await gates.wait("fail");
          throw new Error("the model timed out");
        }
        await gates.wait("retry");
        return stream.pipe(words("Here is ", "the answer."));
      });
      return Response.json({ text: intro + answer });
    });
    const page = await openPage(chat);
    await until(page, "the idle page", { status: "idle", committed: "", uncommitted: "" });

    await page.getByTestId("send").click();
    await until(page, "the failing attempt's text, uncommitted", {
      committed: "You asked: Tell me a story. ",
      uncommitted: "(draft 1) this draft will fail",
      status: "streaming",
    });
    await screenshot(page, "retry-1-uncommitted");

    gates.open("fail"); // the step throws: a rollback frame, then attempt 2 (backoff 0)
    await gates.reached("retry");
    await until(page, "the failed attempt's text to be removed", { committed: "You asked: Tell me a story. ", uncommitted: "" });
    expect(await page.getByTestId("answer").textContent()).not.toContain("draft");

    gates.open("retry");
    const final = "You asked: Tell me a story. Here is the answer.";
    await until(page, "the retried run to succeed", { status: "succeeded", committed: final, uncommitted: "" });
    await screenshot(page, "retry-2-final");

    const shown = await state(page);
    expect(shown.result).toBe(`200 ${JSON.stringify({ text: final })}`);
    expect(shown.error).toBe("");
    expect(shown.committed.split("Here is the answer.").length - 1).toBe(1);
    expect(attempts).toEqual([1, 2]);
    expect(chat.posts()).toBe(1);

    const history = await renders(page);
    expectCommittedPrefixes(history, final);
    expect(history.some((record) => record.uncommitted.includes("(draft 1)"))).toBe(true);
    expect(history.some((record) => record.committed.includes("draft"))).toBe(false);
    // Persistence is cleared when the run ends.
    expect(await page.evaluate((key) => sessionStorage.getItem(key), PERSIST_KEY)).toBeNull();
  });

  it("a reload mid-stream resumes the same run to the same final text, without a second POST", { timeout: 45_000 }, async () => {
    const gates = createGates();
    const executions: string[] = [];
    const chat = await startChatServer(pageDirectory(), async () => {
      const one = await step.run("one", () => {
        executions.push("one");
        return stream.pipe(words("Once ", "upon "));
      });
      const two = await step.run("two", async () => {
        executions.push("two");
        stream.push("a ");
        stream.push("time");
        await gates.wait("two");
        return "a time";
      });
      const three = await step.run("three", () => {
        executions.push("three");
        return stream.pipe(words(", the ", "end."));
      });
      return Response.json({ text: one + two + three }, { status: 201 });
    });
    const page = await openPage(chat);

    await page.getByTestId("send").click();
    await until(page, "step one committed and step two streaming", { committed: "Once upon ", uncommitted: "a time", status: "streaming" });
    // The hook saves at most every 250 ms: wait (in the page, on the storage itself) until the
    // saved state holds step one's commit, so the reload has something to resume from.
    await page.waitForFunction(
      (key) => {
        const saved = sessionStorage.getItem(key);
        return saved?.includes("upon ") === true;
      },
      PERSIST_KEY,
      { timeout: DOM_TIMEOUT },
    );
    await screenshot(page, "reload-1-before");

    await page.reload();
    // Resumed on mount from the saved commit offset: step two's pending chunks are read again.
    await until(page, "the resumed run after the reload", { committed: "Once upon ", uncommitted: "a time", status: "streaming" });
    await chat.untilRequests(() => chat.waitEndpointRequests() >= 1, "the resume request to the wait endpoint");
    await screenshot(page, "reload-2-resumed");

    gates.open("two");
    const final = "Once upon a time, the end.";
    await until(page, "the resumed run to succeed", { status: "succeeded", committed: final, uncommitted: "" });
    await screenshot(page, "reload-3-final");

    const shown = await state(page);
    expect(shown.result).toBe(`201 ${JSON.stringify({ text: final })}`);
    expect(shown.committed.split("upon").length - 1).toBe(1);
    expect(chat.posts()).toBe(1);
    expect(executions).toEqual(["one", "two", "three"]);
    expectCommittedPrefixes(await renders(page), final);
    expect(await page.evaluate((key) => sessionStorage.getItem(key), PERSIST_KEY)).toBeNull();
  });

  it("a sleep redirects the page to the wait endpoint and the text continues to the final result", { timeout: 45_000 }, async () => {
    const timers = createManualTimers();
    const chat = await startChatServer(
      pageDirectory(),
      async () => {
        const first = await step.run("first", () => stream.pipe(words("Hello", " there")));
        await step.sleep("pause", "10m");
        const second = await step.run("second", () => stream.pipe(words(", world", "!")));
        return Response.json({ text: first + second });
      },
      { timers, maxInlineWait: 1000 },
    );
    const page = await openPage(chat);

    await page.getByTestId("send").click();
    await until(page, "the page waiting on the sleep", { committed: "Hello there", uncommitted: "", status: "waiting" });
    await chat.untilRequests(() => chat.waitEndpointRequests() >= 1, "the browser to follow the redirect");
    await screenshot(page, "sleep-1-waiting");

    await passTime(timers, 600_000); // the 10-minute sleep, on the server's manual clock (1 s steps: the due-run poller re-arms itself)
    const final = "Hello there, world!";
    await until(page, "the run to go on after the sleep", { status: "succeeded", committed: final, uncommitted: "" });
    await screenshot(page, "sleep-2-final");

    const shown = await state(page);
    expect(shown.result).toBe(`200 ${JSON.stringify({ text: final })}`);
    expect(chat.posts()).toBe(1);
    const history = await renders(page);
    expectCommittedPrefixes(history, final);
    expect(history.map((record) => record.status)).toContain("waiting");
  });
});
