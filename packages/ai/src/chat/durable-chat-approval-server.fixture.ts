// A durableChat endpoint whose tool needs a user's approval, on the SQLite store, run as a child
// process by durable-chat-approval-restart.test.ts.
// Usage: node --conditions=@durastream/source --import tsx src/chat/durable-chat-approval-server.fixture.ts <db file> <side-effect file>
// The model answers by the prompt, so every process plays the same script: without a tool result it
// calls tool `recordVisit` (whose `execute` appends a line to the side-effect file), with one it
// streams the text of env ANSWER. Serves the chat at /api/chat, the approval route at
// /api/chat/approve and the wait endpoint at /api/durable/. Prints "listening <port>", then one line
// per model call and tool execution.
import { appendFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { LanguageModelV4, LanguageModelV4CallOptions, LanguageModelV4StreamPart } from "@ai-sdk/provider";
import { createDurable } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { SqliteRunStore } from "@durastream/sqlite";
import { isStepCount, tool, type UIMessage } from "ai";
import { z } from "zod";
import { textTurn, toolTurn } from "./chat-test-kit.fixture.js";
import { durableChat } from "./durable-chat.js";
import { uiMessageApprovalHandler } from "./ui-message-approval-handler.js";

/** The environment the test gives this server (imported as a type only, so the test never runs this module). */
export interface ApprovalServerEnv {
  /** The answer of the model call after the tool. */
  ANSWER: string;
}

const [path, sideEffects] = process.argv.slice(2);
const { ANSWER } = process.env as NodeJS.ProcessEnv & ApprovalServerEnv;
const say = (line: string) => process.stdout.write(`${line}\n`);

function partStream(parts: readonly LanguageModelV4StreamPart[]) {
  return new ReadableStream<LanguageModelV4StreamPart>({
    start(controller) {
      for (const part of parts) controller.enqueue(part);
      controller.close();
    },
  });
}

/** The scripted model: the number of tool results in the prompt decides the turn, in any process. */
const model = {
  specificationVersion: "v4" as const,
  provider: "scripted",
  modelId: "approval-script-1",
  supportedUrls: {},
  async doGenerate(): Promise<never> {
    throw new Error("the approval model only streams");
  },
  async doStream(options: LanguageModelV4CallOptions) {
    const turn = options.prompt.filter((message) => message.role === "tool").length;
    say(`model call turn ${turn}`);
    if (turn === 0) return { stream: partStream(toolTurn("call-1", "recordVisit", { city: "Paris" })) };
    if (turn !== 1) throw new Error(`the approval model has no turn ${turn}`);
    return { stream: partStream(textTurn(ANSWER)) };
  },
} as LanguageModelV4;

const recordVisit = tool({
  description: "Records a visit (a side effect outside the run: one line in a file)",
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => {
    appendFileSync(sideEffects!, `${city}\n`);
    say(`tool executed ${city}`);
    return { recorded: city };
  },
});

const durable = createDurable({
  store: new SqliteRunStore({ path: path! }),
  backoff: () => 0,
  leaseDuration: 300,
  pollInterval: 50,
  secret: "durable-chat-approval-test-secret",
});
const endpoint = durable.endpoint(
  async (request) => {
    const { messages } = (await request.json()) as { messages: UIMessage[] };
    return durableChat({ model, messages, tools: { recordVisit }, toolApproval: { recordVisit: "user-approval" }, stopWhen: isStepCount(5) });
  },
  { id: "chat" },
);
const waitEndpoint = durable.waitEndpoint();
const approve = uiMessageApprovalHandler(durable);
const server = createEndpointServer((request) => {
  const { pathname } = new URL(request.url);
  if (pathname.startsWith("/api/durable/")) return waitEndpoint(request);
  return pathname === "/api/chat/approve" ? approve(request) : endpoint(request);
});
server.listen(0, "127.0.0.1", () => say(`listening ${(server.address() as AddressInfo).port}`));
