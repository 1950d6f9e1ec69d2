// The REAL useChat (@ai-sdk/react) in headless Chromium against durableChat: a page built with Vite
// from main.tsx, served by a chat server in a child process (chat-server.ts: SqliteRunStore on a
// temp file, uiMessageStreamHandler, uiMessageResumeHandler, the wait endpoint). Every scenario runs
// with the stock DefaultChatTransport and with createDurableChatTransport. The scripted model waits
// on gates the test opens; the test waits on DOM conditions and server events, never on time.
// Screenshots go to browser-test/artifacts/.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { chromiumFound, chromiumInstallHint, launchChromium, skipBrowserTests } from "@durastream/test-browser";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  browserTestDirectory,
  buildPage,
  pageFolder,
  type ChatServer,
  type ServerFiles,
  type StandbyChatServer,
  serverFiles,
  spawnChatServer,
} from "./harness.js";

const artifacts = join(browserTestDirectory, "artifacts");
/** Longest wait for one DOM condition; a failure, not a pace: conditions are met in milliseconds. */
const DOM_TIMEOUT = 15_000;
const TRANSPORTS = ["stock", "durable"] as const;
type TransportName = (typeof TRANSPORTS)[number];

/** What main.tsx records per render. */
interface RenderRecord {
  status: string;
  assistantText: string;
  toolOutputs: number;
  committedText: string;
  transportStatus: string;
}

interface PartView {
  type: string;
  state: string;
  text: string;
  output: string | null;
  approvalId: string;
}

interface PageView {
  status: string;
  error: string;
  cancelled: string;
  approved: string;
  runId: string;
  committed: string;
  uncommitted: string;
  messages: { role: string; id: string; parts: PartView[] }[];
  /** The text parts of the assistant messages, joined. */
  assistantText: string;
}

/** A DOM condition: every given field must hold. */
interface Want {
  status?: string;
  includes?: string[];
  excludes?: string[];
  toolOutputs?: number;
  /** Tool parts waiting for the user's approval. */
  approvals?: number;
  cancelled?: string;
  approved?: string;
  /** The durable transport's status (`getState(chatId).status`). */
  transportStatus?: string;
}

/** Reads the page (runs in the browser: self-contained). */
function readView(): PageView {
  const text = (id: string) => document.querySelector(`[data-testid="${id}"]`)?.textContent ?? "";
  const messages = [...document.querySelectorAll<HTMLElement>('[data-testid="message"]')].map((message) => ({
    role: message.dataset.role ?? "",
    id: message.dataset.id ?? "",
    parts: [...message.querySelectorAll<HTMLElement>("[data-part-type]")].map((part) => ({
      type: part.dataset.partType ?? "",
      state: part.dataset.state ?? "",
      text: part.dataset.partType === "text" ? (part.textContent ?? "") : "",
      output: part.dataset.output ?? null,
      approvalId: part.dataset.approvalId ?? "",
    })),
  }));
  const assistantText = messages
    .filter((message) => message.role === "assistant")
    .flatMap((message) => message.parts.filter((part) => part.type === "text").map((part) => part.text))
    .join("");
  return {
    status: text("status"),
    error: text("error"),
    cancelled: text("cancelled"),
    approved: text("approved"),
    runId: text("run-id"),
    committed: text("committed"),
    uncommitted: text("uncommitted"),
    messages,
    assistantText,
  };
}

/**
 * Whether the page matches `want` (runs in the browser: self-contained): "matched", or "error"
 * when the chat is in the error status that was not asked for (no use waiting), or false.
 */
function matches(want: Want): "matched" | "error" | false {
  const text = (id: string) => document.querySelector(`[data-testid="${id}"]`)?.textContent ?? "";
  const assistant = [...document.querySelectorAll<HTMLElement>('[data-testid="message"][data-role="assistant"]')];
  const assistantText = assistant.map((message) => [...message.querySelectorAll('[data-part-type="text"]')].map((part) => part.textContent).join("")).join("");
  const toolParts = assistant.flatMap((message) => [...message.querySelectorAll<HTMLElement>('[data-part-type^="tool-"]')]);
  const toolOutputs = toolParts.filter((part) => part.dataset.state === "output-available").length;
  const approvals = toolParts.filter((part) => part.dataset.state === "approval-requested").length;
  if (want.status !== "error" && text("status") === "error") return "error";
  if (want.status !== undefined && text("status") !== want.status) return false;
  if (want.cancelled !== undefined && text("cancelled") !== want.cancelled) return false;
  if (want.approved !== undefined && text("approved") !== want.approved) return false;
  if (want.transportStatus !== undefined && text("transport-status") !== want.transportStatus) return false;
  if (want.toolOutputs !== undefined && toolOutputs !== want.toolOutputs) return false;
  if (want.approvals !== undefined && approvals !== want.approvals) return false;
  if (want.includes?.some((phrase) => !assistantText.includes(phrase)) === true) return false;
  if (want.excludes?.some((phrase) => assistantText.includes(phrase)) === true) return false;
  return "matched";
}

/** How often `phrase` occurs in `text`. */
const occurrences = (text: string, phrase: string): number => text.split(phrase).length - 1;

/** Skipped only off CI on a machine without Chromium; in CI a missing Chromium fails with how to install it. */
const skip = skipBrowserTests;
if (skip) console.warn(`[browser test skipped] ${chromiumInstallHint}`);

describe.skipIf(skip)("useChat (@ai-sdk/react) with durableChat in headless Chromium", () => {
  let browser: Browser;
  let built: { directory: string; remove(): void } | undefined;
  let files: ServerFiles | undefined;
  let server: ChatServer | undefined;
  /** A server process spawned for a restart that has not happened (yet). */
  let unused: Promise<StandbyChatServer> | undefined;
  let context: BrowserContext | undefined;
  let page: Page | undefined;
  const browserLog: string[] = [];
  let chats = 0;

  // A setup failure (no Chromium in CI, a build error) fails every test with its message, rather
  // than failing the hook and leaving the tests counted as skipped.
  let setupError: unknown;
  beforeAll(async () => {
    try {
      if (!chromiumFound) throw new Error(chromiumInstallHint); // in CI: never skip
      mkdirSync(artifacts, { recursive: true });
      built = pageFolder();
      files = serverFiles(built.directory);
      // The server loads while the page builds (it reads the page's files only when asked for them).
      const [, launched, loaded] = await Promise.all([buildPage(built.directory), launchChromium(), spawnChatServer(files, 1)]);
      browser = launched;
      server = await loaded.start(0);
      // One context for the suite (the bundle stays in its cache); each test opens its own tab, and
      // sessionStorage is per tab.
      context = await browser.newContext({ viewport: { width: 760, height: 640 } });
    } catch (error) {
      setupError = error;
    }
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await server?.stop();
    await browser?.close();
    built?.remove();
    if (files !== undefined) rmSync(files.directory, { recursive: true, force: true });
  });

  afterEach(async () => {
    await page?.close();
    page = undefined;
    // A standby process the test did not get to use.
    await unused?.then((standby) => standby.discard()).catch(() => {});
    unused = undefined;
    browserLog.length = 0;
    // A test that failed between a kill and the restart leaves no server: start one for the next.
    if (files !== undefined && server !== undefined && !server.alive()) server = await (await spawnChatServer(files, server.generation + 1)).start(server.port);
  });

  function current(): ChatServer {
    if (setupError !== undefined) throw setupError;
    return server!;
  }

  /**
   * Spawns the next server process now (it loads on standby while the test goes on) and returns
   * the restart: SIGKILL the current server, then start the standby one on the same SQLite file and
   * port. The page's origin stays the same.
   */
  function prepareRestart(): () => Promise<ChatServer> {
    const running = current();
    const standby = spawnChatServer(files!, running.generation + 1);
    standby.catch(() => {}); // reported by the restart
    unused = standby;
    return async () => {
      const next = await standby;
      unused = undefined;
      await running.kill();
      server = await next.start(running.port);
      return server;
    };
  }

  /** A fresh chat id per test: runs, gates and counters of the shared server are per chat. */
  function newChat(scenario: string, transport: TransportName): string {
    chats += 1;
    return `${scenario}-${transport}-${chats}`;
  }

  /** A new tab (its own sessionStorage) with the chat page open. */
  async function openPage(transport: TransportName, chat: string, prompt: string): Promise<Page> {
    const chatServer = current();
    page = await context!.newPage();
    page.on("console", (message) => browserLog.push(`console.${message.type()}: ${message.text()}`));
    page.on("pageerror", (error) => browserLog.push(`pageerror: ${error.message}`));
    await page.goto(`${chatServer.origin}/?${new URLSearchParams({ transport, chat, prompt })}`);
    await until(page, "the page to render", { status: "ready" });
    // useChat's resume effect runs in the same flush as the page's render-recording effect.
    await page.waitForFunction(() => window.__renders.length > 0, undefined, { timeout: DOM_TIMEOUT });
    await resumeSettled(page, transport, 204);
    return page;
  }

  /**
   * useChat({ resume: true }) resumes on mount. The stock transport asks the resume route: waits
   * (in the page) until its answer arrived with `status`. Ours asks nothing when it remembers no run.
   */
  async function resumeSettled(page: Page, transport: TransportName, status: number): Promise<void> {
    if (transport !== "stock") return;
    try {
      await page.waitForFunction(
        (want) => window.__responses.some((response) => response.method === "GET" && response.path.endsWith("/stream") && response.status === want),
        status,
        { timeout: DOM_TIMEOUT },
      );
    } catch (error) {
      if (!(error instanceof Error && error.name === "TimeoutError")) throw error;
      const responses = await page.evaluate(() => window.__responses);
      throw new Error(`Waiting for the resume route to answer ${status}: the stock transport got ${JSON.stringify(responses)}.`);
    }
  }

  async function view(page: Page): Promise<PageView> {
    return page.evaluate(readView);
  }

  /** Waits (in the page, on every animation frame) until it matches `want`; on timeout says what it showed. */
  async function until(page: Page, what: string, want: Want): Promise<void> {
    let outcome: unknown = "timeout";
    try {
      outcome = await (await page.waitForFunction(matches, want, { timeout: DOM_TIMEOUT })).jsonValue();
    } catch (error) {
      if (!(error instanceof Error && error.name === "TimeoutError")) throw error;
    }
    if (outcome !== "matched") {
      throw new Error(
        `Waiting for ${what}: wanted ${JSON.stringify(want)}, the page shows ${JSON.stringify(await view(page))}.\n` +
          `Browser log:\n${browserLog.join("\n") || "(empty)"}`,
      );
    }
  }

  async function renders(page: Page): Promise<RenderRecord[]> {
    return page.evaluate(() => window.__renders);
  }

  async function screenshot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
  }

  /** The one assistant message: its part types and its text. */
  function assistantOf(shown: PageView) {
    const assistant = shown.messages.filter((message) => message.role === "assistant");
    expect(assistant).toHaveLength(1);
    return { types: assistant[0]!.parts.map((part) => part.type), parts: assistant[0]!.parts, text: shown.assistantText };
  }

  /** No render showed a phrase twice or two tool outputs; with ours, every committed text is a prefix of the final one. */
  function expectNothingDoubled(history: RenderRecord[], phrases: string[], finalCommitted?: string): void {
    expect(history.length).toBeGreaterThan(0);
    for (const record of history) {
      for (const phrase of phrases) {
        if (occurrences(record.assistantText, phrase) > 1) throw new Error(`A render showed "${phrase}" twice: ${JSON.stringify(record)}`);
      }
      if (record.toolOutputs > 1) throw new Error(`A render showed the tool's output twice: ${JSON.stringify(record)}`);
      if (finalCommitted !== undefined && !finalCommitted.startsWith(record.committedText)) {
        throw new Error(`A render showed committed text that is not a prefix of the final one: ${JSON.stringify(record)}`);
      }
    }
  }

  /** The failed text was shown, then removed before the retry's answer showed (and never together). */
  function expectShownThenRemoved(history: RenderRecord[], failed: string, answer: string): void {
    const shown = history.findIndex((record) => record.assistantText.includes(failed));
    const answered = history.findIndex((record) => record.assistantText.includes(answer));
    expect(shown, `a render showed "${failed}"`).toBeGreaterThanOrEqual(0);
    expect(answered, `a render showed "${answer}"`).toBeGreaterThan(shown);
    const removed = history.findIndex((record, index) => index > shown && !record.assistantText.includes(failed));
    expect(removed, `a render after it no longer showed "${failed}"`).toBeGreaterThan(shown);
    expect(removed).toBeLessThanOrEqual(answered);
    expect(history.slice(removed).some((record) => record.assistantText.includes(failed))).toBe(false);
  }

  const posts = (chatServer: ChatServer, chat: string) => chatServer.of(chat, "request").filter((event) => event.method === "POST").length;

  for (const transport of TRANSPORTS) {
    describe(`${transport} transport`, () => {
      it("a model call failing mid-answer: its text shows, is removed, and the final message has the answer once", { timeout: 60_000 }, async () => {
        const chat = newChat("fail", transport);
        const page = await openPage(transport, chat, "fail: what is the answer?");
        const chatServer = current();
        const answer = "The answer is forty-two.";

        await page.getByTestId("send").click();
        await until(page, "the failing call's text", { includes: ["This draft will fail"] });
        await chatServer.gateReached(chat, "fail");
        await screenshot(page, `${transport}-fail-1-draft`);

        await chatServer.open(chat, "fail"); // an error part: the call's step rolls back (reset-step), the engine retries it
        await chatServer.gateReached(chat, "retry");
        await until(page, "the failed text to be removed", { excludes: ["draft"] });
        await screenshot(page, `${transport}-fail-2-removed`);

        await chatServer.open(chat, "retry");
        await until(page, "the retried answer", { status: "ready", includes: [answer] });
        await screenshot(page, `${transport}-fail-3-final`);

        const shown = await view(page);
        expect(shown.error).toBe("");
        const message = assistantOf(shown);
        expect(message.text).toBe(answer);
        expect(message.types).toEqual(["step-start", "text"]);
        expect(chatServer.of(chat, "model-call")).toHaveLength(2);
        expect(posts(chatServer, chat)).toBe(1);
        const history = await renders(page);
        expectShownThenRemoved(history, "This draft will fail", answer);
        expectNothingDoubled(history, ["forty-two", "draft"], transport === "durable" ? answer : undefined);
        if (transport === "durable") expect(shown.committed).toBe(answer);
      });

      it("a tool whose step fails once, then the model call after it fails once: the side effect happens once, the answer shows once", {
        timeout: 60_000,
      }, async () => {
        const chat = newChat("tool", transport);
        const page = await openPage(transport, chat, "tool: I am visiting Paris");
        const chatServer = current();
        const answer = "Your visit to Paris is recorded.";

        await page.getByTestId("send").click();
        await until(page, "the tool output and the failing call's text", { toolOutputs: 1, includes: ["Partial answer that fails"] });
        await chatServer.gateReached(chat, "fail");
        // The tool's step failed once (a Durastream error) before its side effect, and was retried.
        expect(chatServer.of(chat, "tool-attempt")).toHaveLength(2);
        expect(await chatServer.sideEffects(chat)).toBe(1);
        await screenshot(page, `${transport}-tool-1-partial`);

        await chatServer.open(chat, "fail");
        await chatServer.gateReached(chat, "retry");
        await until(page, "the failed text to be removed, the tool output kept", { excludes: ["Partial"], toolOutputs: 1 });
        await chatServer.open(chat, "retry");
        await until(page, "the answer", { status: "ready", includes: [answer], toolOutputs: 1 });
        await screenshot(page, `${transport}-tool-2-final`);

        const shown = await view(page);
        expect(shown.error).toBe("");
        const message = assistantOf(shown);
        expect(message.types).toEqual(["step-start", "tool-recordVisit", "step-start", "text"]);
        expect(message.parts[1]).toMatchObject({ state: "output-available", output: JSON.stringify({ recorded: "Paris" }) });
        expect(message.text).toBe(answer);
        expect(await chatServer.sideEffects(chat)).toBe(1);
        expect(chatServer.of(chat, "tool-attempt")).toHaveLength(2);
        expect(chatServer.of(chat, "tool-executed")).toHaveLength(1);
        expect(chatServer.of(chat, "model-call").map((event) => event.turn)).toEqual([0, 1, 1]);
        expect(posts(chatServer, chat)).toBe(1);
        const history = await renders(page);
        expectShownThenRemoved(history, "Partial answer that fails", answer);
        expectNothingDoubled(history, ["recorded", "Partial"], transport === "durable" ? answer : undefined);
      });

      it("a reload mid-answer resumes the run: no duplicated parts, the model not called again, one POST", { timeout: 60_000 }, async () => {
        const chat = newChat("reload", transport);
        const page = await openPage(transport, chat, "reload: tell me a story");
        const chatServer = current();
        const answer = "Once upon a time there was a durable chat.";

        await page.getByTestId("send").click();
        await until(page, "the first words", { includes: ["Once upon a time"] });
        await chatServer.gateReached(chat, "rest");
        if (transport === "durable") {
          // Ours remembers the run in sessionStorage (on its metadata, before any chunk).
          expect(await page.evaluate((id) => sessionStorage.getItem(`durastream-chat:${id}`), chat)).toContain("resumeUrl");
        }
        expectNothingDoubled(await renders(page), ["Once upon"]);
        await screenshot(page, `${transport}-reload-1-before`);

        const eventsBefore = chatServer.events.length;
        await page.reload();
        // Stock: useChat({ resume: true }) GETs /api/chat/:id/stream (uiMessageResumeHandler). Ours:
        // reconnectToStream reads the remembered resume URL from the wait endpoint.
        await resumeSettled(page, transport, 200);
        const resumeRequests = () => chatServer.events.slice(eventsBefore).filter((event) => event.type === "request");
        await chatServer.until(() => resumeRequests().length > 0, "the reloaded page's resume request");
        // The restored message shows at once; ours also shows that its transport replays the run.
        await until(page, "the resumed answer's first words", {
          includes: ["Once upon a time"],
          ...(transport === "durable" ? { transportStatus: "streaming" } : {}),
        });
        const resumed = resumeRequests();
        if (transport === "stock") expect(resumed.map((event) => `${event.method} ${event.path}`)).toEqual([`GET /api/chat/${chat}/stream`]);
        else expect(resumed.map((event) => `${event.method} ${String(event.path).replace(/[^/]+$/, ":run")}`)).toEqual(["GET /api/durable/:run"]);
        await screenshot(page, `${transport}-reload-2-resumed`);

        await chatServer.open(chat, "rest");
        await until(page, "the whole answer", { status: "ready", includes: [answer] });
        await screenshot(page, `${transport}-reload-3-final`);

        const shown = await view(page);
        expect(shown.error).toBe("");
        const message = assistantOf(shown);
        expect(message.text).toBe(answer);
        expect(message.types).toEqual(["step-start", "text"]);
        expect(chatServer.of(chat, "model-call")).toHaveLength(1);
        expect(chatServer.of(chat, "handler")).toHaveLength(1);
        expect(posts(chatServer, chat)).toBe(1);
        expectNothingDoubled(await renders(page), ["Once upon", "durable chat"], transport === "durable" ? answer : undefined);
      });

      it("the server SIGKILLed mid-answer: the restarted process takes the run over; the answer once, the tool not run again", {
        timeout: 90_000,
      }, async () => {
        const chat = newChat("crash", transport);
        const restart = prepareRestart();
        const page = await openPage(transport, chat, "crash: I am visiting Rome");
        const first = current();
        const answer = "The restarted server answers once.";

        await page.getByTestId("send").click();
        await until(page, "the tool output and the draft", { toolOutputs: 1, includes: ["Draft from the killed server"] });
        await first.gateReached(chat, "never");
        expect(await first.sideEffects(chat)).toBe(1);
        await screenshot(page, `${transport}-crash-1-before`);

        const second = await restart();
        if (transport === "stock") {
          // The stock client's one connection died with the process: useChat ends the request with
          // an error and does not reconnect by itself. The user reloads; resume: true GETs the resume
          // route of the restarted process, which replays the run and follows it live.
          await until(page, "the stock chat to give up on its dead connection", { status: "error" });
          await page.reload();
          await resumeSettled(page, "stock", 200);
        }
        // Ours: no reload. The transport reconnects to the run's resume URL (same origin) with
        // Last-Event-ID until the restarted process answers, and reads on from there.
        await second.gateReached(chat, "rest");
        await until(page, "the restarted process's answer, the killed draft gone", {
          includes: ["The restarted server"],
          excludes: ["Draft from the killed"],
          toolOutputs: 1,
        });
        await screenshot(page, `${transport}-crash-2-taken-over`);

        await second.open(chat, "rest");
        await until(page, "the whole answer", { status: "ready", includes: [answer] });
        await screenshot(page, `${transport}-crash-3-final`);

        const shown = await view(page);
        expect(shown.error).toBe("");
        const message = assistantOf(shown);
        expect(message.types).toEqual(["step-start", "tool-recordVisit", "step-start", "text"]);
        expect(message.parts[1]).toMatchObject({ state: "output-available", output: JSON.stringify({ recorded: "Rome" }) });
        expect(message.text).toBe(answer);
        // The tool ran once, in the killed process; the restarted one only called the model again.
        expect(await second.sideEffects(chat)).toBe(1);
        expect(first.of(chat, "tool-executed")).toHaveLength(1);
        expect(second.of(chat, "tool-attempt")).toHaveLength(0);
        expect(first.of(chat, "model-call").map((event) => event.turn)).toEqual([0, 1]);
        expect(second.of(chat, "model-call").map((event) => event.turn)).toEqual([1]);
        expect(posts(first, chat) + posts(second, chat)).toBe(1);
        expectNothingDoubled(await renders(page), ["restarted", "Rome"], transport === "durable" ? answer : undefined);
        // Ours went through "reconnecting" while no process listened, and never reloaded.
        if (transport === "durable") expect((await renders(page)).some((record) => record.transportStatus === "reconnecting")).toBe(true);
        if (transport === "durable")
          expect(second.of(chat, "request").every((event) => event.method === "GET" && String(event.path).startsWith("/api/durable/"))).toBe(true);
      });

      it("stop mid-answer: stop() + cancelRun(resumeUrl) ends the run; the model call's abort signal fires, no more tokens", { timeout: 60_000 }, async () => {
        const chat = newChat("stop", transport);
        const page = await openPage(transport, chat, "stop: tell me a long story");
        const chatServer = current();

        await page.getByTestId("send").click();
        await until(page, "the first tokens", { includes: ["Hello there"] });
        await chatServer.gateReached(chat, "more");
        const runId = (await view(page)).runId;
        expect(runId).toMatch(/^[0-9A-Z]{26}$/);

        await page.getByTestId("stop").click();
        await until(page, "stop() and cancelRun to finish", { cancelled: "true", status: "ready" });
        await chatServer.until(() => chatServer.of(chat, "abort").length === 1, "the model call's abort signal");
        expect(chatServer.of(chat, "abort")[0]).toMatchObject({ code: "RUN_CANCELLED" });
        await screenshot(page, `${transport}-stop-1-stopped`);

        // The script would go on now; the aborted call sends nothing more, and nothing reaches the page.
        await chatServer.open(chat, "more");
        await chatServer.until(() => chatServer.of(chat, "dropped-after-abort").length === 1, "the aborted call to drop the rest of its script");
        expect(await chatServer.run(runId)).toEqual({ status: "failed", resultStatus: 500 });
        const shown = await view(page);
        expect(shown.assistantText).toBe("Hello there ");
        expect(shown.error).toBe("");
        expect(chatServer.of(chat, "model-call")).toHaveLength(1); // not retried
        expect(posts(chatServer, chat)).toBe(1);
        expect((await renders(page)).some((record) => record.assistantText.includes("late"))).toBe(false);
        // A second cancel finds the run over.
        await page.getByTestId("stop").click();
        await until(page, "a second cancelRun", { cancelled: "false" });
      });

      it("an approval waits across a SIGKILL and restart: the request shows again, approve, the tool runs once, the answer finishes", {
        timeout: 90_000,
      }, async () => {
        const chat = newChat("approve", transport);
        const restart = prepareRestart();
        const page = await openPage(transport, chat, "approve: record my visit to Oslo");
        const first = current();
        const answer = "Your approved visit to Oslo is recorded.";

        await page.getByTestId("send").click();
        await until(page, "the approval request", { approvals: 1 });
        const requested = assistantOf(await view(page)).parts.find((part) => part.state === "approval-requested")!;
        expect(requested.approvalId).toMatch(/^approval-/);
        expect(first.of(chat, "tool-attempt")).toHaveLength(0);
        await screenshot(page, `${transport}-approval-1-requested`);

        const second = await restart();
        if (transport === "stock") {
          // As in the crash test: the stock chat's connection died with the process; the user
          // reloads, and the resume route of the restarted process replays the waiting run.
          await until(page, "the stock chat to give up on its dead connection", { status: "error" });
          await page.reload();
          await resumeSettled(page, "stock", 200);
        } else {
          // Ours reconnects by itself to the run's resume URL on the restarted process.
          await second.until(
            () => second.events.some((event) => event.type === "request" && String(event.path).startsWith("/api/durable/")),
            "the page's transport to reconnect to the restarted server",
          );
        }
        await until(page, "the approval request after the restart", { approvals: 1, toolOutputs: 0 });
        const again = assistantOf(await view(page)).parts.find((part) => part.state === "approval-requested")!;
        expect(again.approvalId).toBe(requested.approvalId); // the same request, from the run's log
        await screenshot(page, `${transport}-approval-2-after-restart`);

        await page.getByTestId("approve").click(); // addToolApprovalResponse + sendToolApproval("/api/chat/approve")
        await until(page, "the approved tool's output and the answer", {
          status: "ready",
          approved: JSON.stringify({ delivered: 1 }),
          toolOutputs: 1,
          includes: [answer],
        });
        await screenshot(page, `${transport}-approval-3-final`);

        const shown = await view(page);
        expect(shown.error).toBe("");
        const message = assistantOf(shown);
        expect(message.types).toEqual(["step-start", "tool-recordVisit", "step-start", "text"]);
        expect(message.parts[1]).toMatchObject({ state: "output-available", output: JSON.stringify({ recorded: "Oslo" }), approvalId: requested.approvalId });
        expect(message.text).toBe(answer);
        // The tool ran once, after the approval, in the restarted process.
        expect(await second.sideEffects(chat)).toBe(1);
        expect(first.of(chat, "tool-attempt")).toHaveLength(0);
        expect(second.of(chat, "tool-executed")).toHaveLength(1);
        expect(first.of(chat, "model-call").map((event) => event.turn)).toEqual([0]);
        expect(second.of(chat, "model-call").map((event) => event.turn)).toEqual([1]);
        expect(posts(first, chat) + posts(second, chat)).toBe(1);
        expectNothingDoubled(await renders(page), ["Oslo is recorded"], transport === "durable" ? answer : undefined);
      });
    });
  }
});
