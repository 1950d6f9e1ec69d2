/**
 * End to end: builds the example with `next build`, serves it with `next start`, and drives the
 * `useChat` page in headless Chromium: the weather tool's part and then the answer; a forced model
 * failure rolled back (its text removed) with the answer shown exactly once; a reload mid-answer
 * resumed without duplicated parts; the saved history on a fresh load; the stock transport too.
 *
 * Needs Chromium at /usr/bin/chromium (or CHROMIUM_PATH); without it the test is skipped, unless
 * CI is set (then it fails).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromiumFound, chromiumPath, launchChromium, skipBrowserTests } from "@durastream/test-browser";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAIL_AFTER_WORDS, mockAnswer } from "./lib/model";
import { type ChatMessage, weatherIn } from "./lib/tools";

const here = path.dirname(fileURLToPath(import.meta.url));
const nextBin = path.join(here, "node_modules/next/dist/bin/next");
const BUILD_TIMEOUT = 300_000;
const artifacts = path.join(here, "artifacts");
/** The chats the server saves (lib/chat-store.ts), in a temporary folder. */
const chatDataDirectory = mkdtempSync(path.join(tmpdir(), "next-chat-data-"));

if (skipBrowserTests) {
  console.warn(`[next-chat] Skipping the Next.js end-to-end test: no Chromium at ${chromiumPath} (set CHROMIUM_PATH).`);
}

/** Environment of the `next` child processes: no telemetry (no internet here), a fixed resume-token secret, the mock model. */
function nextEnvironment(): NodeJS.ProcessEnv {
  const environment: Record<string, string | undefined> = {
    ...process.env,
    NEXT_TELEMETRY_DISABLED: "1",
    DURASTREAM_SECRET: "next-chat-test-secret-0123456789abcdef",
    MOCK_TOKEN_DELAY_MS: "40",
    CHAT_DATA_DIR: chatDataDirectory,
  };
  // vitest sets NODE_ENV=test; next sets "production" for build and start itself.
  delete environment.NODE_ENV;
  delete environment.OPENAI_API_KEY; // always the mock model
  delete environment.OPENAI_MODEL;
  return environment as NodeJS.ProcessEnv;
}

/** Runs `next <args>` in this folder, detached in its own process group (so the whole group can be stopped). */
function runNext(args: string[]): { child: ChildProcess; output: () => string } {
  let output = "";
  const child = spawn(process.execPath, [nextBin, ...args], { cwd: here, env: nextEnvironment(), detached: true, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once("exit", (code) => resolve(code));
  });
}

function stop(child: ChildProcess | undefined): Promise<unknown> {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    // Already gone.
  }
  return exited(child);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Resolves once `url` answers 200; rejects when the server exits first or after `timeout` ms. */
async function waitUntilServing(url: string, child: ChildProcess, output: () => string, timeout: number): Promise<void> {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`next start exited with ${child.exitCode}:\n${output()}`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`next start did not serve ${url} within ${timeout} ms:\n${output()}`);
}

/**
 * Records in the page, on every DOM change: the text of the last assistant message (its text
 * parts), the chat's status, and whether dimmed (uncommitted) text was on screen, so the test can
 * check afterwards what was shown, however briefly.
 */
function recordAnswer(): void {
  const record = { texts: [] as string[], statuses: [] as string[], sawUncommitted: false };
  (window as unknown as { answerRecord: typeof record }).answerRecord = record;
  const update = () => {
    const assistants = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
    const last = assistants[assistants.length - 1];
    const text = last === undefined ? "" : Array.from(last.querySelectorAll('[data-testid="text-part"]'), (part) => part.textContent ?? "").join("");
    if (record.texts.at(-1) !== text) record.texts.push(text);
    const status = document.querySelector("main")?.getAttribute("data-chat-status") ?? "";
    if (record.statuses.at(-1) !== status) record.statuses.push(status);
    if (document.querySelector('[data-testid="uncommitted"]') !== null) record.sawUncommitted = true;
  };
  new MutationObserver(update).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
}

interface AnswerRecord {
  texts: string[];
  statuses: string[];
  sawUncommitted: boolean;
}
const answerRecord = (page: Page) => page.evaluate(() => (window as unknown as { answerRecord: AnswerRecord }).answerRecord);

const messages = (page: Page, role: "user" | "assistant") => page.locator(`[data-testid="message"][data-role="${role}"]`);

/** Opens a new chat (`/` redirects to `/?chat=<new id>`); returns the chat id. */
async function openNewChat(page: Page, baseUrl: string, query = ""): Promise<string> {
  await page.goto(`${baseUrl}/${query}`);
  const chatId = new URL(page.url()).searchParams.get("chat");
  expect(chatId).toMatch(/^[A-Za-z0-9_-]+$/);
  await page.locator('main[data-hydrated="true"][data-chat-status="ready"]').waitFor();
  return chatId!;
}

async function send(page: Page, message: string, options: { failOnce?: boolean } = {}): Promise<void> {
  await page.getByLabel("Message").fill(message);
  await page.getByLabel("Fail once").setChecked(options.failOnce ?? false);
  await page.getByRole("button", { name: "Send", exact: true }).click();
}

/** Waits until the chat is done and shows `answer`; checks it is there once, after one weather tool part with `city`'s forecast. */
async function expectAnswered(page: Page, city: string): Promise<void> {
  const answer = mockAnswer(weatherIn(city));
  const assistant = messages(page, "assistant").last();
  await assistant.locator('[data-testid="tool-part"][data-state="output-available"]').waitFor();
  await page.waitForFunction(
    (expected) => {
      const assistants = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
      return (assistants[assistants.length - 1]?.textContent ?? "").includes(expected);
    },
    answer,
    { timeout: 20_000 },
  );
  await page.locator('main[data-chat-status="ready"]').waitFor();
  expect(await assistant.getByTestId("tool-part").count()).toBe(1);
  expect(await assistant.getByTestId("tool-input").innerText()).toBe(`input: ${JSON.stringify({ city })}`);
  expect(await assistant.getByTestId("tool-output").innerText()).toBe(`output: ${JSON.stringify(weatherIn(city))}`);
  expect(await assistant.getByTestId("text-part").count()).toBe(1);
  expect(await assistant.getByTestId("text-part").innerText()).toBe(answer);
  expect(await countInPage(page, answer)).toBe(1);
  expect(await page.getByTestId("error").count()).toBe(0);
}

/**
 * Checks the answer's text over time: some of the failed call's words were on screen (a React
 * render may batch the last ones with the removal), then the text got shorter (removed), and it
 * ended as the answer.
 */
function expectRolledBack(texts: string[], failedText: string, answer: string): void {
  const explain = `answer text over time: ${JSON.stringify(texts)}`;
  const shown = texts.findIndex((text) => text.trim() !== "" && failedText.startsWith(text));
  expect(shown, explain).toBeGreaterThanOrEqual(0);
  const longest = texts.findLastIndex(
    (text, index) => index >= shown && text.trim() !== "" && failedText.startsWith(text) && index + 1 < texts.length && texts[index + 1]!.length < text.length,
  );
  expect(longest, explain).toBeGreaterThanOrEqual(shown);
  expect(texts.at(-1), explain).toBe(answer);
}

async function countInPage(page: Page, text: string): Promise<number> {
  const body = await page.locator("body").innerText();
  return body.split(text).length - 1;
}

/** The chat as the server saved it (GET /api/chat/<id>). */
async function savedChat(baseUrl: string, chatId: string): Promise<ChatMessage[]> {
  const response = await fetch(`${baseUrl}/api/chat/${chatId}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { messages: ChatMessage[] }).messages;
}

describe.skipIf(skipBrowserTests)("examples/next-chat (next build + next start + Chromium)", () => {
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  let baseUrl = "";
  const timings: string[] = [];

  beforeAll(async () => {
    if (!chromiumFound) throw new Error(`CI is set but there is no Chromium at ${chromiumPath}: install it or set CHROMIUM_PATH.`);

    const buildStarted = Date.now();
    const build = runNext(["build", "--webpack"]);
    const code = await exited(build.child);
    if (code !== 0) throw new Error(`next build failed (exit ${code}):\n${build.output()}`);
    timings.push(`next build ${((Date.now() - buildStarted) / 1000).toFixed(1)} s`);

    const startStarted = Date.now();
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    const start = runNext(["start", "-p", String(port), "-H", "127.0.0.1"]);
    server = start.child;
    await waitUntilServing(`${baseUrl}/api/chat/warm-up`, server, start.output, 30_000);
    timings.push(`next start ${((Date.now() - startStarted) / 1000).toFixed(1)} s`);

    browser = await launchChromium();
    mkdirSync(artifacts, { recursive: true });
  }, BUILD_TIMEOUT + 60_000);

  afterAll(async () => {
    await browser?.close();
    await stop(server);
    rmSync(chatDataDirectory, { recursive: true, force: true });
    if (timings.length > 0) console.info(`[next-chat] ${timings.join(", ")}`);
  });

  it("shows the tool part, then the answer with dimmed uncommitted text; saves the chat, shown on a fresh load", async () => {
    const page = await browser!.newPage();
    try {
      await page.addInitScript(recordAnswer);
      const chatId = await openNewChat(page, baseUrl);
      await send(page, "What is the weather in Lisbon?");
      await expectAnswered(page, "Lisbon");
      expect((await answerRecord(page)).sawUncommitted).toBe(true);
      await page.screenshot({ path: path.join(artifacts, "next-chat.png"), fullPage: true });

      // Saved by onFinish: the question, and the answer with its tool part and text.
      const saved = await savedChat(baseUrl, chatId);
      expect(saved.map((message) => message.role)).toEqual(["user", "assistant"]);
      const answerParts = saved[1]!.parts.filter((part) => part.type !== "step-start");
      expect(answerParts).toMatchObject([
        { type: "tool-weather", state: "output-available", input: { city: "Lisbon" }, output: weatherIn("Lisbon") },
        { type: "text", text: mockAnswer(weatherIn("Lisbon")) },
      ]);

      // A fresh browser (no sessionStorage, nothing to resume) shows the saved chat.
      const context = await browser!.newContext();
      try {
        const fresh = await context.newPage();
        await fresh.goto(`${baseUrl}/?chat=${chatId}`);
        await fresh.locator('main[data-hydrated="true"][data-chat-status="ready"]').waitFor();
        expect(await messages(fresh, "user").count()).toBe(1);
        expect(await messages(fresh, "assistant").count()).toBe(1);
        await expectAnswered(fresh, "Lisbon");
      } finally {
        await context.close();
      }
    } finally {
      await page.close();
    }
  }, 60_000);

  it("rolls back a failed model call: its text is removed, the answer is shown exactly once", async () => {
    const page = await browser!.newPage();
    try {
      await page.addInitScript(recordAnswer);
      const chatId = await openNewChat(page, baseUrl);
      await send(page, "How is the weather in Oslo?", { failOnce: true });
      await page.getByTestId("rollback-note").waitFor();
      await expectAnswered(page, "Oslo");

      // The failed call's words were on screen, then removed, then the retry streamed the answer.
      const answer = mockAnswer(weatherIn("Oslo"));
      const failedText = answer
        .match(/\S+\s*/g)!
        .slice(0, FAIL_AFTER_WORDS)
        .join("");
      expectRolledBack((await answerRecord(page)).texts, failedText, answer);
      expect(await page.getByTestId("rollback-note").innerText()).toContain(failedText.trim());

      const saved = await savedChat(baseUrl, chatId);
      expect(saved.map((message) => message.role)).toEqual(["user", "assistant"]);
      expect(saved[1]!.parts.filter((part) => part.type === "text")).toMatchObject([{ text: answer }]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it("resumes the running answer after a reload, without duplicated parts", async () => {
    const page = await browser!.newPage();
    try {
      await page.addInitScript(recordAnswer);
      await openNewChat(page, baseUrl);
      await send(page, "Weather in Kyoto, please");
      // The tool is done and some words are on screen, far from the end: reload now.
      await page.waitForFunction(() => {
        const assistants = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
        return (assistants[assistants.length - 1]?.textContent ?? "").includes("The weather tool");
      });
      const reloaded = await page.reload();
      // The server-rendered page has the saved question but not the answer yet: it was mid-answer.
      const html = (await reloaded?.text()) ?? "";
      expect(html).toContain("Weather in Kyoto, please");
      expect(html).not.toContain("exactly once.");

      await expectAnswered(page, "Kyoto");
      expect(await messages(page, "user").count()).toBe(1);
      expect(await messages(page, "assistant").count()).toBe(1);
      // The reloaded page streamed the rest (it did not just load a finished chat).
      expect((await answerRecord(page)).statuses).toContain("streaming");
    } finally {
      await page.close();
    }
  }, 60_000);

  it("stops an answer for good: Stop cancels the run, a reload has nothing to resume", async () => {
    const page = await browser!.newPage();
    try {
      const chatId = await openNewChat(page, baseUrl);
      await send(page, "Weather in Madrid?");
      await page.waitForFunction(() => document.body.innerText.includes("The weather tool"));
      await page.getByRole("button", { name: "Stop", exact: true }).click();
      await page.locator('main[data-chat-status="ready"]').waitFor();
      expect(await page.getByTestId("error").count()).toBe(0);

      // Had the run gone on, the reloaded page would resume it (the resume route finds it by chat id).
      const resumed = page.waitForResponse((response) => new URL(response.url()).pathname === `/api/chat/${chatId}/stream`);
      await page.reload();
      expect((await resumed).status()).toBe(204); // no answer of this chat is running
      await page.locator('main[data-hydrated="true"][data-chat-status="ready"]').waitFor();
      expect(await messages(page, "user").count()).toBe(1);
      expect(await messages(page, "assistant").count()).toBe(0);
      expect(await page.getByTestId("error").count()).toBe(0);
      // onFinish never ran: only the question is saved.
      expect((await savedChat(baseUrl, chatId)).map((message) => message.role)).toEqual(["user"]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it("works with the stock DefaultChatTransport too (?transport=stock)", async () => {
    const page = await browser!.newPage();
    try {
      await page.addInitScript(recordAnswer);
      const chatId = await openNewChat(page, baseUrl, "?transport=stock");
      expect(await page.locator("main").getAttribute("data-transport")).toBe("stock");
      await send(page, "And the weather in Berlin?", { failOnce: true });
      await expectAnswered(page, "Berlin");
      const answer = mockAnswer(weatherIn("Berlin"));
      // reset-step removed the failed call's text before the retry streamed the answer.
      const failedText = answer
        .match(/\S+\s*/g)!
        .slice(0, FAIL_AFTER_WORDS)
        .join("");
      expectRolledBack((await answerRecord(page)).texts, failedText, answer);
      expect(await savedChat(baseUrl, chatId)).toHaveLength(2);
    } finally {
      await page.close();
    }
  }, 60_000);
});
