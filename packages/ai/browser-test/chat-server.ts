// The server of the useChat browser test, run as a CHILD PROCESS by harness.ts (so a test can
// SIGKILL it mid-answer and start it again on the same SQLite file and port):
//
//   node --conditions=@durastream/source --import tsx browser-test/chat-server.ts \
//     <database file> <page folder> <side-effects file> <generation>
//
// It loads, prints "standby", and waits for a line "start <port>" (0: any free port) on stdin before
// it opens the SQLite file and listens: the test spawns the next process ahead, while the current
// one still holds the file, so a restart after a SIGKILL is quick.
//
// One loopback origin serves the built page at `/`, the chat route POST /api/chat
// (uiMessageStreamHandler over a keyed durable endpoint), the resume route
// GET /api/chat/:id/stream (uiMessageResumeHandler), the approval route POST /api/chat/approve
// (uiMessageApprovalHandler), the wait endpoint at /api/durable/ (GET and
// DELETE) and test controls at /control/. Once started it prints "listening <port>", then one line
// "event <json>" per thing the test may wait for (requests, model calls, gates reached, tool
// executions, aborts seen by the model).
//
// The model is scripted by the scenario (the text of the user message before its first ":") and
// steered by gates the test opens (POST /control/open?gate=<chat id>:<name>), so the test decides
// when each part of an answer goes on. `generation` counts the processes started on the file
// (1, then 2 after a SIGKILL, …); it is reported with each event.
import { appendFileSync, existsSync, readFileSync, statSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { extname, resolve, sep } from "node:path";
import { createInterface } from "node:readline";
import type { LanguageModelV4, LanguageModelV4CallOptions, LanguageModelV4StreamPart } from "@ai-sdk/provider";
import { durableChat, lastUserText, uiMessageApprovalHandler, uiMessageChatKey, uiMessageResumeHandler, uiMessageStreamHandler } from "@durastream/ai";
import { createDurable, DurableError } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { SqliteRunStore } from "@durastream/sqlite";
import { createGates } from "@durastream/test-browser";
import { isStepCount, tool, type UIMessage } from "ai";
import { z } from "zod";

const [databaseArgument, pageDirectory, sideEffectsFile, generationArgument] = process.argv.slice(2);
if (databaseArgument === undefined || pageDirectory === undefined || sideEffectsFile === undefined) {
  throw new Error("usage: chat-server.ts <database> <page folder> <side-effects file> [generation], then a line start <port> on stdin");
}
const database: string = databaseArgument;
const generation = Number(generationArgument ?? "1");

/** One line per event, for the test (harness.ts parses them). */
function emit(event: Record<string, unknown>): void {
  process.stdout.write(`event ${JSON.stringify({ ...event, generation })}\n`);
}

// Gates never time out here: the test's own waits are bounded.
const gates = createGates({ timeout: 600_000 });
async function gate(chatId: string, name: string): Promise<void> {
  emit({ type: "gate", chat: chatId, name });
  await gates.wait(`${chatId}:${name}`);
}

// ---------------------------------------------------------------------------------------------
// The scripted model

/** One action of a scripted model call. */
type Action = { text: string } | { gate: string } | { fail: string } | { toolCall: { name: string; input: unknown } };

/** What a call of chat `chatId` answers, by its scenario, turn (tool results so far) and call number in this process. */
function script(chatId: string, scenario: string, turn: number, call: number): Action[] {
  switch (scenario) {
    case "fail":
      // The first call streams a draft, then fails with a provider error part; the retry answers.
      return call === 1
        ? [{ text: "This draft will fail " }, { gate: "fail" }, { fail: "upstream connection reset (test)" }]
        : [{ gate: "retry" }, { text: "The answer is forty-two." }];
    case "tool":
      if (turn === 0) return [{ toolCall: { name: "recordVisit", input: { city: "Paris" } } }];
      // The call after the tool: its first attempt fails mid-answer, the retry answers.
      return call === 2
        ? [{ text: "Partial answer that fails " }, { gate: "fail" }, { fail: "upstream connection reset (test)" }]
        : [{ gate: "retry" }, { text: "Your visit to Paris is recorded." }];
    case "reload":
      return [{ text: "Once upon a time " }, { gate: "rest" }, { text: "there was a durable chat." }];
    case "crash":
      if (turn === 0) return [{ toolCall: { name: "recordVisit", input: { city: "Rome" } } }];
      // The process that got the POST streams a draft and is killed while it holds; the one that
      // took the run over answers.
      return postedHere.has(chatId)
        ? [{ text: "Draft from the killed server " }, { gate: "never" }]
        : [{ text: "The restarted server " }, { gate: "rest" }, { text: "answers once." }];
    case "approve":
      // The tool call needs the user's approval (toolApproval below); the run waits for it durably.
      if (turn === 0) return [{ toolCall: { name: "recordVisit", input: { city: "Oslo" } } }];
      return [{ text: "Your approved visit to Oslo is recorded." }];
    case "stop":
      return [{ text: "Hello there " }, { gate: "more" }, { text: "late tokens that must never arrive" }];
    default:
      return [{ text: `Unknown scenario ${JSON.stringify(scenario)}.` }];
  }
}

const usage = (output: number) => ({
  inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: output, text: output, reasoning: undefined },
});

/** The chats whose POST this process received (a run taken over from a killed process is not among them). */
const postedHere = new Set<string>();
/** doStream calls per chat id, in this process. */
const callsByChat = new Map<string, number>();

/** A LanguageModelV4 that plays the scenario's script, waits on gates, and honours its abort signal. */
function scriptedModel(chatId: string, scenario: string): LanguageModelV4 {
  const model = {
    specificationVersion: "v4" as const,
    provider: "browser-test",
    modelId: "scripted-1",
    supportedUrls: {},
    async doGenerate(): Promise<never> {
      throw new Error("the scripted model only streams");
    },
    async doStream(options: LanguageModelV4CallOptions) {
      const call = (callsByChat.get(chatId) ?? 0) + 1;
      callsByChat.set(chatId, call);
      const turn = options.prompt.filter((message) => message.role === "tool").length;
      emit({ type: "model-call", chat: chatId, call, turn });
      const signal = options.abortSignal;
      const actions = script(chatId, scenario, turn, call);
      const stream = new ReadableStream<LanguageModelV4StreamPart>({
        start(controller) {
          let closed = false;
          const enqueue = (part: LanguageModelV4StreamPart): void => {
            if (!closed) controller.enqueue(part);
          };
          signal?.addEventListener(
            "abort",
            () => {
              const reason = signal.reason as { code?: unknown; message?: unknown } | undefined;
              emit({ type: "abort", chat: chatId, call, code: reason?.code ?? null, message: String(reason?.message ?? reason) });
              if (!closed) controller.error(signal.reason);
              closed = true;
            },
            { once: true },
          );
          enqueue({ type: "stream-start", warnings: [] });
          void (async () => {
            let textStarted = false;
            let deltas = 0;
            for (const action of actions) {
              if ("gate" in action) {
                await gate(chatId, action.gate);
                continue;
              }
              if (signal?.aborted === true) {
                // What the script would have sent after the run was cancelled: nothing.
                emit({ type: "dropped-after-abort", chat: chatId, call });
                return;
              }
              if ("text" in action) {
                if (!textStarted) enqueue({ type: "text-start", id: "t" });
                textStarted = true;
                for (const delta of action.text.match(/\S+\s*/g) ?? []) {
                  enqueue({ type: "text-delta", id: "t", delta });
                  deltas += 1;
                }
              } else if ("fail" in action) {
                enqueue({ type: "error", error: new Error(action.fail) });
                enqueue({ type: "finish", finishReason: { unified: "error", raw: "error" }, usage: usage(deltas) });
                closed = true;
                controller.close();
                return;
              } else {
                enqueue({ type: "tool-call", toolCallId: `call-${chatId}`, toolName: action.toolCall.name, input: JSON.stringify(action.toolCall.input) });
                enqueue({ type: "finish", finishReason: { unified: "tool-calls", raw: "tool_calls" }, usage: usage(5) });
                closed = true;
                controller.close();
                return;
              }
            }
            if (textStarted) enqueue({ type: "text-end", id: "t" });
            enqueue({ type: "finish", finishReason: { unified: "stop", raw: "stop" }, usage: usage(deltas) });
            if (!closed) controller.close();
            closed = true;
          })();
        },
      });
      return { stream };
    },
  };
  return model as LanguageModelV4;
}

// ---------------------------------------------------------------------------------------------
// The tool: its side effect is a line in a file, so it is counted across processes

/** Executions of the tool per chat id in this process (attempts, including failed ones). */
const toolAttempts = new Map<string, number>();

function sideEffectsOf(chatId: string): number {
  if (!existsSync(sideEffectsFile!)) return 0;
  return readFileSync(sideEffectsFile!, "utf8")
    .split("\n")
    .filter((line) => line.startsWith(`${chatId} `)).length;
}

function recordVisit(chatId: string, scenario: string) {
  return tool({
    description: "Records a visit: a side effect outside the run (a line in a file)",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      const attempt = (toolAttempts.get(chatId) ?? 0) + 1;
      toolAttempts.set(chatId, attempt);
      emit({ type: "tool-attempt", chat: chatId, attempt });
      // In the tool scenario the tool's step fails once before its side effect: a Durastream error
      // fails the step (a plain error would be an answer for the model), and the engine retries it.
      if (scenario === "tool" && attempt === 1) throw new DurableError("TIMEOUT", "the visits service timed out (test)");
      appendFileSync(sideEffectsFile!, `${chatId} ${city}\n`);
      emit({ type: "tool-executed", chat: chatId, city });
      return { recorded: city };
    },
  });
}

// ---------------------------------------------------------------------------------------------
// The routes

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};
const root = resolve(pageDirectory);
function servePage(pathname: string): Response {
  const file = resolve(root, `.${pathname === "/" ? "/index.html" : decodeURIComponent(pathname)}`);
  if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) return new Response("not found", { status: 404 });
  // The bundle's name has its hash: the browser keeps it across the tests' pages and reloads.
  const cacheControl = pathname.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-store";
  return new Response(readFileSync(file), {
    headers: { "content-type": contentTypes[extname(file)] ?? "application/octet-stream", "cache-control": cacheControl },
  });
}

async function control(request: Request, url: URL, store: SqliteRunStore): Promise<Response> {
  if (url.pathname === "/control/open" && request.method === "POST") {
    gates.open(url.searchParams.get("gate") ?? "");
    return new Response(null, { status: 204 });
  }
  if (url.pathname === "/control/side-effects") return Response.json({ count: sideEffectsOf(url.searchParams.get("chat") ?? "") });
  if (url.pathname === "/control/run") {
    const run = await store.getRun(url.searchParams.get("id") ?? "");
    return Response.json(run === null || run === undefined ? null : { status: run.status, resultStatus: run.result?.status ?? null });
  }
  return new Response("unknown control", { status: 404 });
}

/**
 * Opens the store and listens on `port` (0: any). Called once the test says "start <port>": the
 * process is spawned ahead (standby, its modules loaded) so that a restart after a SIGKILL only
 * waits for this, not for node and tsx to load everything.
 */
function serve(port: number): void {
  const store = new SqliteRunStore({ path: database });
  const durable = createDurable({
    store,
    backoff: () => 0,
    // A killed process's runs are taken over quickly by the next one on the file.
    leaseDuration: 300,
    pollInterval: 50,
    // Fixed, so that resume URLs issued by one process are valid in the next.
    secret: "durastream-ai-browser-test-resume-token-secret",
  });
  const endpoint = durable.endpoint(
    async (request) => {
      const { id, messages } = (await request.json()) as { id: string; messages: UIMessage[] };
      const scenario = lastUserText({ messages }).split(":")[0]!.trim();
      emit({ type: "handler", chat: id, scenario });
      return durableChat({
        model: scriptedModel(id, scenario),
        messages,
        tools: { recordVisit: recordVisit(id, scenario) },
        stopWhen: isStepCount(5),
        ...(scenario === "approve" ? { toolApproval: { recordVisit: "user-approval" as const } } : {}),
      });
    },
    { id: "chat", key: uiMessageChatKey },
  );
  const waitEndpoint = durable.waitEndpoint();
  const chatRoute = uiMessageStreamHandler(endpoint, { waitEndpoint });
  const resumeRoute = uiMessageResumeHandler(durable, { endpointId: "chat", waitEndpoint });
  const approveRoute = uiMessageApprovalHandler(durable);

  const server = createEndpointServer(async (request) => {
    const url = new URL(request.url);
    const { pathname } = url;
    if (pathname.startsWith("/control/")) return control(request, url, store);
    if (pathname.startsWith("/api/")) {
      const resume = /^\/api\/chat\/([^/]+)\/stream$/.exec(pathname);
      const chat =
        request.method === "POST" ? ((await request.clone().json()) as { id?: string }).id : resume === null ? undefined : decodeURIComponent(resume[1]!);
      if (request.method === "POST" && chat !== undefined) postedHere.add(chat);
      emit({ type: "request", method: request.method, path: pathname, chat: chat ?? null, accept: request.headers.get("accept") });
    }
    if (pathname === "/api/chat") return chatRoute(request);
    if (pathname === "/api/chat/approve") return approveRoute(request);
    if (/^\/api\/chat\/[^/]+\/stream$/.test(pathname)) return resumeRoute(request);
    if (pathname.startsWith("/api/durable/")) return waitEndpoint(request);
    return servePage(pathname);
  });
  server.listen(port, "127.0.0.1", () => {
    process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
  });
}

createInterface({ input: process.stdin }).once("line", (line) => {
  const [command, port] = line.split(" ");
  if (command !== "start") throw new Error(`expected "start <port>", got ${JSON.stringify(line)}`);
  serve(Number(port ?? "0"));
});
process.stdout.write("standby\n");
