// The playground end to end: server.ts (Vite-built page + supervisor) and its worker process on a
// SQLite file, driven in headless Chromium through the page's own controls. Each scenario injects
// faults, waits for the run to end (DOM conditions, no fixed sleeps), and checks the page shows the
// exact committed text, once, plus the rollbacks, redirects and reconnects in its timeline.
// Screenshots go to playground/artifacts/ (gitignored).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromiumFound, chromiumInstallHint, launchChromium, skipBrowserTests } from "@durastream/test-browser";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { expectedCommittedText } from "./run-request.js";
import { playgroundDirectory, startPlayground, type Playground } from "./server.js";

const artifacts = join(playgroundDirectory, "artifacts");
/** Longest wait for a run to end: a bound for a failure, not a pace (runs take 1–3 s). */
const RUN_TIMEOUT = 25_000;

const skip = skipBrowserTests;
if (skip) console.warn(`[playground test skipped] ${chromiumInstallHint}`);

interface PageState {
  status: string;
  committed: string;
  pending: number;
  timeline: { kind: string; text: string }[];
  attempts: { step: string; outcome: string; label: string }[];
  frames: { offset: string; kind: string }[];
  history: string[];
  error: string;
}

describe.skipIf(skip)("the playground in headless Chromium", () => {
  let playground: Playground | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let origin = "";
  const serverLog: string[] = [];
  const browserLog: string[] = [];
  let setupError: unknown;

  beforeAll(async () => {
    try {
      if (!chromiumFound) throw new Error(chromiumInstallHint); // in CI: never skip
      mkdirSync(artifacts, { recursive: true });
      [playground, browser] = await Promise.all([
        startPlayground({ port: 0, host: "127.0.0.1", log: (line) => serverLog.push(line), workerOutput: (line) => serverLog.push(line) }),
        launchChromium(),
      ]);
      await playground.workerReady();
      origin = `http://127.0.0.1:${playground.port}`;
    } catch (error) {
      setupError = error;
    }
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await playground?.close();
  });

  afterEach(async () => {
    await context?.close();
    context = undefined;
    browserLog.length = 0;
  });

  async function openPage(): Promise<Page> {
    if (setupError !== undefined) throw setupError;
    context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on("console", (message) => browserLog.push(`console.${message.type()}: ${message.text()}`));
    page.on("pageerror", (error) => browserLog.push(`pageerror: ${error.message}`));
    await page.goto(origin);
    await page.waitForSelector('[data-testid="worker"]'); // rendered, and /api/worker answered
    return page;
  }

  async function state(page: Page): Promise<PageState> {
    return page.evaluate(() => {
      const all = (selector: string) => [...document.querySelectorAll<HTMLElement>(selector)];
      const text = (id: string) => document.querySelector(`[data-testid="${id}"]`)?.textContent ?? "";
      return {
        status: text("status"),
        committed: text("committed"),
        pending: all('[data-testid="pending"]').length,
        timeline: all('[data-testid="timeline"] li').map((item) => ({ kind: item.dataset.kind ?? "", text: item.textContent ?? "" })),
        attempts: all('[data-testid="attempt"]').map((bar) => ({
          step: bar.closest<HTMLElement>(".chart-row")?.dataset.step ?? "",
          outcome: bar.dataset.outcome ?? "",
          label: bar.textContent ?? "",
        })),
        frames: all('[data-testid="frames"] tbody tr').map((row) => ({ offset: row.children[2]?.textContent ?? "", kind: row.children[3]?.textContent ?? "" })),
        history: window.__committedHistory,
        error: text("error"),
      };
    });
  }

  /** Waits until the run ended (status succeeded, failed or aborted) and returns what the page shows. */
  async function untilRunEnds(page: Page): Promise<PageState> {
    try {
      await page.waitForFunction(
        () => ["succeeded", "failed", "aborted"].includes(document.querySelector('[data-testid="status"]')?.textContent ?? ""),
        undefined,
        { timeout: RUN_TIMEOUT },
      );
    } catch (error) {
      throw new Error(
        `The run did not end: the page shows ${JSON.stringify(await state(page))}\n` +
          `Server log:\n${serverLog.join("\n")}\nBrowser log:\n${browserLog.join("\n") || "(empty)"}`,
        { cause: error },
      );
    }
    return state(page);
  }

  /** The committed text is exactly the expected one, and every committed text ever rendered was a prefix of it. */
  function expectExactlyOnce(final: PageState, expected: string): void {
    expect(final.status, final.error).toBe("succeeded");
    expect(final.committed).toBe(expected);
    expect(final.pending).toBe(0);
    for (const shown of final.history) expect(expected.startsWith(shown), `rendered committed text not a prefix: ${JSON.stringify(shown)}`).toBe(true);
  }

  it("a forced step failure, a sleep and a dropped connection: exact committed text, rollbacks in the timeline", async () => {
    const logStart = serverLog.length;
    const page = await openPage();
    const prompt = "exactly-once streaming";
    await page.fill('[data-testid="prompt"]', prompt);
    await page.fill('[data-testid="token-delay"]', "5");
    // Failure 1: the outline's first attempt, after 3 tokens (the page starts with one failure row).
    await page.selectOption('[data-testid="failure-step-0"]', "outline");
    await page.fill('[data-testid="failure-attempt-0"]', "1");
    await page.fill('[data-testid="failure-tokens-0"]', "3");
    // Failure 2: the answer's first attempt, after 8 tokens.
    await page.click('[data-testid="add-failure"]');
    await page.selectOption('[data-testid="failure-step-1"]', "answer");
    await page.fill('[data-testid="failure-attempt-1"]', "1");
    await page.fill('[data-testid="failure-tokens-1"]', "8");
    await page.fill('[data-testid="sleep"]', "1"); // suspends the run: redirect (sleep)
    await page.fill('[data-testid="drop-frame"]', "40"); // the server cuts the connection after log frame 40 (in the answer, after the redirect)
    await page.click('[data-testid="run"]');

    const final = await untilRunEnds(page);
    await page.screenshot({ path: join(artifacts, "playground.png"), fullPage: true });

    expectExactlyOnce(final, expectedCommittedText(prompt));
    const rollbacks = final.timeline.filter((entry) => entry.kind === "rollback").map((entry) => entry.text);
    expect(rollbacks).toHaveLength(2);
    expect(rollbacks[0]).toContain("outline");
    expect(rollbacks[0]).toContain("attempt 1 rolled back, 3 chunks discarded");
    expect(rollbacks[0]).toContain("Injected failure: outline attempt 1 after 3 tokens");
    expect(rollbacks[1]).toContain("answer");
    expect(rollbacks[1]).toContain("Injected failure: answer attempt 1 after 8 tokens");
    expect(final.timeline.some((entry) => entry.kind === "redirect" && entry.text.includes("(sleep)"))).toBe(true);
    expect(final.timeline.filter((entry) => entry.kind === "reconnect").length).toBeGreaterThanOrEqual(1);
    expect(final.timeline.at(-1)?.kind).toBe("finish");
    expect(final.timeline.at(-1)?.text).toContain("run succeeded, HTTP 200");
    // The step chart: each step failed once, then committed.
    expect(final.attempts.map(({ step, outcome }) => `${step} ${outcome}`)).toEqual([
      "outline rolled back",
      "outline committed",
      "answer rolled back",
      "answer committed",
    ]);
    // The frame inspector: offsets in order, ending with the result frame.
    expect(final.frames.at(-1)?.kind).toBe("result");
    expect(final.frames.filter((frame) => frame.kind === "rollback")).toHaveLength(2);
    // The worker ran each attempt once; after the sleep the completed outline step was replayed from the store, not run.
    const executions = serverLog.slice(logStart).flatMap((line) => /\] (step \w+, attempt \d+)$/.exec(line)?.[1] ?? []);
    expect(executions).toEqual(["step outline, attempt 1", "step outline, attempt 2", "step answer, attempt 1", "step answer, attempt 2"]);
    expect(browserLog.filter((line) => line.startsWith("pageerror"))).toEqual([]);
  }, 40_000);

  it("the worker is SIGKILLed mid-step and restarted on the same SQLite file: the run finishes with the same text", async () => {
    const restartsBefore = playground!.worker().restarts;
    const page = await openPage();
    const prompt = "crash-proof streaming";
    await page.click('[data-testid="preset-No faults"]');
    await page.fill('[data-testid="prompt"]', prompt);
    await page.fill('[data-testid="token-delay"]', "10");
    await page.selectOption('[data-testid="kill-step"]', "answer");
    await page.fill('[data-testid="kill-tokens"]', "10");
    await page.click('[data-testid="run"]');

    // While the worker is being killed and replaced, the answer's 10 tokens show as uncommitted, labelled by step.
    await page.waitForFunction(() => {
      const pending = document.querySelector('[data-testid="pending"][data-step="answer"]');
      return (
        pending?.querySelector(".pending-label")?.textContent === "answer · uncommitted" &&
        (pending.querySelector(".pending-text")?.textContent ?? "").split(" ").length > 10
      );
    });
    await page.screenshot({ path: join(artifacts, "playground-uncommitted.png") });

    const final = await untilRunEnds(page);
    await page.waitForFunction((before) => Number(document.querySelector('[data-testid="worker-restarts"]')?.textContent) > before, restartsBefore);
    await page.screenshot({ path: join(artifacts, "playground-worker-kill.png"), fullPage: true });

    expectExactlyOnce(final, expectedCommittedText(prompt));
    expect(playground!.worker().restarts).toBe(restartsBefore + 1);
    expect(serverLog.some((line) => line.includes("SIGKILL (answer attempt 1 after 10 tokens)"))).toBe(true);
    const rollbacks = final.timeline.filter((entry) => entry.kind === "rollback").map((entry) => entry.text);
    expect(rollbacks).toHaveLength(1);
    expect(rollbacks[0]).toContain("answer");
    expect(rollbacks[0]).toContain("attempt 1 rolled back, 10 chunks discarded: InterruptedError");
    expect(final.timeline.filter((entry) => entry.kind === "reconnect").length).toBeGreaterThanOrEqual(1);
    expect(final.attempts.map(({ step, outcome }) => `${step} ${outcome}`)).toEqual(["outline committed", "answer rolled back", "answer committed"]);
    // After the takeover the log goes on in a higher epoch.
    const epochs = new Set(final.frames.filter((frame) => frame.offset !== "—").map((frame) => frame.offset.split("-")[0]));
    expect(epochs.size).toBeGreaterThanOrEqual(2);
    expect(browserLog.filter((line) => line.startsWith("pageerror"))).toEqual([]);
  }, 40_000);
  it('the "Everything" preset: failures, a sleep, a dropped connection and a worker kill in one run', async () => {
    const page = await openPage();
    await page.click('[data-testid="preset-Everything"]');
    await page.fill('[data-testid="token-delay"]', "10");
    const prompt = await page.inputValue('[data-testid="prompt"]');
    await page.click('[data-testid="run"]');

    const final = await untilRunEnds(page);
    expectExactlyOnce(final, expectedCommittedText(prompt));
    const rollbacks = final.timeline.filter((entry) => entry.kind === "rollback").map((entry) => entry.text);
    expect(rollbacks).toHaveLength(3);
    expect(rollbacks[0]).toContain("Injected failure: outline attempt 1 after 4 tokens");
    expect(rollbacks[1]).toContain("InterruptedError");
    expect(rollbacks[2]).toContain("Injected failure: answer attempt 2 after 6 tokens");
    expect(final.timeline.some((entry) => entry.kind === "redirect" && entry.text.includes("(sleep)"))).toBe(true);
    expect(final.timeline.filter((entry) => entry.kind === "reconnect").length).toBeGreaterThanOrEqual(1);
    expect(final.attempts.map(({ step, outcome }) => `${step} ${outcome}`)).toEqual([
      "outline rolled back",
      "outline committed",
      "answer rolled back",
      "answer rolled back",
      "answer committed",
    ]);
    expect(browserLog.filter((line) => line.startsWith("pageerror"))).toEqual([]);
  }, 40_000);
});
