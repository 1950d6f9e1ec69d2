/**
 * End to end: builds the example with `next build`, serves it with `next start`, and drives the chat
 * in headless Chromium: a forced model failure is rolled back (its dimmed words disappear) and the
 * answer ends up in the transcript exactly once; a reload mid-answer resumes the run.
 *
 * Needs Chromium at /usr/bin/chromium (or CHROMIUM_PATH); without it the test is skipped, unless
 * CI is set (then it fails).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromiumFound, chromiumPath, launchChromium, skipBrowserTests } from "@durastream/test-browser";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mockAnswer } from "./lib/model";

const here = path.dirname(fileURLToPath(import.meta.url));
const nextBin = path.join(here, "node_modules/next/dist/bin/next");
const BUILD_TIMEOUT = 180_000;
const artifacts = path.join(here, "artifacts");

if (skipBrowserTests) {
  console.warn(`[next-chat] Skipping the Next.js end-to-end test: no Chromium at ${chromiumPath} (set CHROMIUM_PATH).`);
}

/** Environment of the `next` child processes: no telemetry (no internet here), a fixed resume-token secret. */
function nextEnvironment(): NodeJS.ProcessEnv {
  const environment: Record<string, string | undefined> = {
    ...process.env,
    NEXT_TELEMETRY_DISABLED: "1",
    DURASTREAM_SECRET: "next-chat-test-secret-0123456789abcdef",
    MOCK_TOKEN_DELAY_MS: "40",
  };
  // vitest sets NODE_ENV=test; next sets "production" for build and start itself.
  delete environment.NODE_ENV;
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
 * Records, in the page, every change of the live answer's uncommitted (dimmed) text, so the test can
 * check afterwards that the rolled-back words disappeared, however briefly that was on screen.
 */
function recordUncommittedText(): void {
  const log: string[] = [];
  (window as unknown as { uncommittedLog: string[] }).uncommittedLog = log;
  const record = () => {
    const element = document.querySelector('[data-testid="uncommitted"]');
    if (element === null) return;
    const text = element.textContent ?? "";
    if (log.at(-1) !== text) log.push(text);
  };
  new MutationObserver(record).observe(document, { subtree: true, childList: true, characterData: true });
}

const assistantAnswers = (page: Page) => page.locator('[data-testid="transcript"] li[data-role="assistant"]');

async function send(page: Page, message: string, options: { failOnce: boolean }): Promise<void> {
  await page.getByLabel("Message").fill(message);
  await page.getByLabel(/Fail once/).setChecked(options.failOnce);
  await page.getByRole("button", { name: "Send", exact: true }).click();
}

async function countInPage(page: Page, text: string): Promise<number> {
  const body = await page.locator("body").innerText();
  return body.split(text).length - 1;
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
    await waitUntilServing(`${baseUrl}/`, server, start.output, 30_000);
    timings.push(`next start ${((Date.now() - startStarted) / 1000).toFixed(1)} s`);

    browser = await launchChromium();
  }, BUILD_TIMEOUT + 60_000);

  afterAll(async () => {
    await browser?.close();
    await stop(server);
    if (timings.length > 0) console.info(`[next-chat] ${timings.join(", ")}`);
  });

  it("rolls back a failed attempt's words and shows the answer exactly once", async () => {
    const page = await browser!.newPage();
    try {
      mkdirSync(artifacts, { recursive: true });
      await page.addInitScript(recordUncommittedText);
      await page.goto(baseUrl);
      const question = "Hello durable world";
      const answer = mockAnswer(question);

      await send(page, question, { failOnce: true });

      // The failed attempt is rolled back and announced…
      await page.getByTestId("rollback-note").first().waitFor();
      expect(await page.getByTestId("rollback-note").first().innerText()).toContain("Attempt 1 failed");
      // The retry streams the answer again, dimmed until its step commits.
      await page.waitForFunction(
        () =>
          (document.querySelector('[data-testid="uncommitted"]')?.textContent ?? "") !== "" ||
          document.querySelector('[data-testid="transcript"] li[data-role="assistant"]') !== null,
      );
      await page.screenshot({ path: path.join(artifacts, "next-chat-streaming.png"), fullPage: true });
      // …and the retry's answer lands in the transcript, once.
      await assistantAnswers(page).first().waitFor({ timeout: 30_000 });
      await page.locator('[data-status="succeeded"]').waitFor();
      await page.getByTestId("live-answer").waitFor({ state: "detached" });

      expect(await assistantAnswers(page).count()).toBe(1);
      const finalAnswer = await assistantAnswers(page).first().innerText();
      expect(finalAnswer).toContain(answer);
      expect(finalAnswer).toContain("Attempt 1 failed"); // the transcript keeps the rollback's note
      expect(await countInPage(page, answer)).toBe(1);
      expect(await countInPage(page, "You asked:")).toBe(1);

      // The first attempt's dimmed words were on screen, then disappeared (rollback) before the retry streamed them again.
      const log = await page.evaluate(() => (window as unknown as { uncommittedLog: string[] }).uncommittedLog);
      const shown = log.findIndex((text) => text !== "");
      expect(shown).toBeGreaterThanOrEqual(0);
      const rolledBack = log.findIndex((text, index) => index > shown && text === "");
      expect(rolledBack, `uncommitted text over time: ${JSON.stringify(log)}`).toBeGreaterThan(shown);
      expect(answer.startsWith(log[rolledBack - 1]!)).toBe(true);
      expect(log.slice(rolledBack + 1).some((text) => text.length > log[rolledBack - 1]!.length)).toBe(true);

      await page.screenshot({ path: path.join(artifacts, "next-chat.png"), fullPage: true });
    } finally {
      await page.close();
    }
  }, 60_000);

  it("resumes the running answer after a page reload", async () => {
    const page = await browser!.newPage();
    try {
      await page.goto(baseUrl);
      const question = "Survive a reload";
      const answer = mockAnswer(question);

      await send(page, question, { failOnce: false });
      // Some words committed or streaming, but the answer not finished: reload now.
      await page.waitForFunction(() => (document.querySelector('[data-testid="live-answer"]')?.textContent ?? "").includes("streamed word"));
      expect(await assistantAnswers(page).count()).toBe(0);
      await page.reload();

      await assistantAnswers(page).first().waitFor({ timeout: 30_000 });
      await page.locator('[data-status="succeeded"]').waitFor();
      expect(await assistantAnswers(page).count()).toBe(1);
      expect(await assistantAnswers(page).first().innerText()).toContain(answer);
      expect(await countInPage(page, answer)).toBe(1);
      expect(await page.locator('[data-testid="transcript"] li[data-role="user"]').count()).toBe(1);
    } finally {
      await page.close();
    }
  }, 60_000);
});
