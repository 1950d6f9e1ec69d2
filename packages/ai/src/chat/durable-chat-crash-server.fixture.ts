// A durableChat endpoint on the SQLite store, run as a child process by durable-chat-crash.test.ts.
// Usage: node --conditions=@durastream/source --import tsx src/chat/durable-chat-crash-server.fixture.ts <db file> <side-effect file>
// The model answers by the prompt, so every process plays the same script: without a tool result it
// calls tool `recordVisit` (whose `execute` appends a line to the side-effect file), with one it
// streams the text of env ANSWER. With env KILLED_DRAFT set, the answer streams that text instead
// and then hangs, to be killed there. Prints "listening <port>", then one line per model call and
// tool execution, and "llm:1 started" when it hangs.
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

/** The environment the test gives this server (imported as a type only, so the test never runs this module). */
export interface CrashServerEnv {
  /** The answer of the second model call. */
  ANSWER: string;
  /** Set in the process to kill: the second model call streams this and hangs. */
  KILLED_DRAFT?: string;
}

const [path, sideEffects] = process.argv.slice(2);
const { ANSWER, KILLED_DRAFT } = process.env as NodeJS.ProcessEnv & CrashServerEnv;
const say = (line: string) => process.stdout.write(`${line}\n`);

/** A stream that plays `parts` and, with `hangAfter`, stays open after them (and says so). */
function partStream(parts: readonly LanguageModelV4StreamPart[], hangAfter?: string) {
  return new ReadableStream<LanguageModelV4StreamPart>({
    start(controller) {
      for (const part of parts) controller.enqueue(part);
      if (hangAfter === undefined) controller.close();
      else say(hangAfter);
    },
  });
}

/** The scripted model: the number of tool results in the prompt decides the turn, in any process. */
const model = {
  specificationVersion: "v4" as const,
  provider: "scripted",
  modelId: "crash-script-1",
  supportedUrls: {},
  async doGenerate(): Promise<never> {
    throw new Error("the crash model only streams");
  },
  async doStream(options: LanguageModelV4CallOptions) {
    const turn = options.prompt.filter((message) => message.role === "tool").length;
    say(`model call turn ${turn}`);
    if (turn === 0) return { stream: partStream(toolTurn("call-1", "recordVisit", { city: "Paris" })) };
    if (turn !== 1) throw new Error(`the crash model has no turn ${turn}`);
    if (KILLED_DRAFT === undefined) return { stream: partStream(textTurn(ANSWER)) };
    const draft: LanguageModelV4StreamPart[] = [
      { type: "stream-start", warnings: [] },
      { type: "text-start", id: "t" },
      { type: "text-delta", id: "t", delta: KILLED_DRAFT },
    ];
    return { stream: partStream(draft, "llm:1 started") };
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
  secret: "durable-chat-crash-test-secret",
});
const endpoint = durable.endpoint(
  async (request) => {
    const { messages } = (await request.json()) as { messages: UIMessage[] };
    return durableChat({ model, messages, tools: { recordVisit }, stopWhen: isStepCount(5) });
  },
  { id: "chat" },
);
const waitEndpoint = durable.waitEndpoint();
const server = createEndpointServer((request) => (new URL(request.url).pathname.startsWith("/api/durable/") ? waitEndpoint(request) : endpoint(request)));
server.listen(0, "127.0.0.1", () => say(`listening ${(server.address() as AddressInfo).port}`));
