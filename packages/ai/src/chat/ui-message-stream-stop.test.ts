// Stop for a stock AI SDK chat: `chat.stop()` only closes the connection; the run's resume URL from
// uiMessageStreamHandler's `x-durastream-resume-url` header and `cancelRun` end the run at the server.
import type { AddressInfo } from "node:net";
import type { LanguageModelV4, LanguageModelV4CallOptions, LanguageModelV4StreamPart } from "@ai-sdk/provider";
import { cancelRun, resumeStream } from "@durastream/client";
import { createDurable, type DurableHandler } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { until } from "@durastream/testing";
import { AbstractChat, DefaultChatTransport, type ChatState, type ChatStatus, type UIMessage } from "ai";
import { afterEach, describe, expect, it } from "vitest";
import { durableChat } from "./durable-chat.js";
import { uiMessageStreamHandler } from "./ui-message-stream-handler.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/**
 * A model whose one call streams two words and then holds, until the test sends more (`more`) or
 * the call's abort signal fires (the stream then errors with its reason).
 */
function holdingModel() {
  const calls: LanguageModelV4CallOptions[] = [];
  let controller: ReadableStreamDefaultController<LanguageModelV4StreamPart> | undefined;
  let errored = false;
  const model = {
    specificationVersion: "v4" as const,
    provider: "holding",
    modelId: "holding-1",
    supportedUrls: {},
    async doGenerate(): Promise<never> {
      throw new Error("holdingModel only streams");
    },
    async doStream(options: LanguageModelV4CallOptions) {
      calls.push(options);
      const stream = new ReadableStream<LanguageModelV4StreamPart>({
        start(c) {
          controller = c;
          c.enqueue({ type: "stream-start", warnings: [] });
          c.enqueue({ type: "text-start", id: "t" });
          c.enqueue({ type: "text-delta", id: "t", delta: "Hello " });
          c.enqueue({ type: "text-delta", id: "t", delta: "there " });
          const signal = options.abortSignal;
          signal?.addEventListener(
            "abort",
            () => {
              errored = true;
              c.error(signal.reason);
            },
            { once: true },
          );
        },
      });
      return { stream };
    },
  };
  return {
    model: model as LanguageModelV4,
    calls,
    errored: () => errored,
    more: (delta: string) => controller?.enqueue({ type: "text-delta", id: "t", delta }),
  };
}

/** The chat's state, as @ai-sdk/react keeps it (without rendering). */
class PlainState implements ChatState<UIMessage> {
  status: ChatStatus = "ready";
  error: Error | undefined = undefined;
  messages: UIMessage[] = [];
  pushMessage = (message: UIMessage): void => void this.messages.push(message);
  popMessage = (): void => void this.messages.pop();
  replaceMessage = (index: number, message: UIMessage): void => {
    this.messages[index] = message;
  };
  snapshot = <T>(thing: T): T => structuredClone(thing);
}

class StockChat extends AbstractChat<UIMessage> {}

const textOf = (message: UIMessage | undefined): string => (message?.parts ?? []).map((part) => (part.type === "text" ? part.text : "")).join("");

describe("stop for the stock AI SDK chat: chat.stop() + cancelRun(resumeUrl)", () => {
  it("ends the run at the server: the model call's signal aborts, no more tokens, a final rollback and the cancelled result", async () => {
    const held = holdingModel();
    const durable = createDurable({ backoff: () => 0 });
    const handler: DurableHandler = async (request) => {
      const { messages } = (await request.json()) as { messages: UIMessage[] };
      return durableChat({ model: held.model, messages });
    };
    const endpoint = durable.endpoint(handler, { id: "chat" });
    const wait = durable.waitEndpoint(); // mounted for GET and DELETE
    const chatRoute = uiMessageStreamHandler(endpoint, { waitEndpoint: wait });
    const server = createEndpointServer((request) => (new URL(request.url).pathname.startsWith("/api/durable/") ? wait(request) : chatRoute(request)));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closers.push(async () => {
      server.closeAllConnections();
      server.close();
      await durable.close({ timeout: 0 });
    });
    const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/chat`;

    // The app's transport reads the run's resume URL (and id) from the response headers.
    let resumeUrl: string | null = null;
    let runId: string | null = null;
    const transport = new DefaultChatTransport<UIMessage>({
      api,
      fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
        const response = await fetch(input, init);
        resumeUrl = response.headers.get("x-durastream-resume-url") ?? resumeUrl;
        runId = response.headers.get("x-durastream-run-id") ?? runId;
        return response;
      }) as typeof fetch,
    });
    const chat = new StockChat({ id: "chat-stop", state: new PlainState(), transport });
    const sending = chat.sendMessage({ text: "Tell me a long story" });
    await until(() => textOf(chat.messages[1]).includes("there"), "the first tokens to render");
    expect(resumeUrl).toMatch(/\/api\/durable\/[0-9A-Z]{26}\?token=/);
    expect(runId).not.toBeNull();

    // The stop button: stop reading, and cancel the run at the server.
    await chat.stop();
    await sending;
    expect(await cancelRun(resumeUrl!)).toBe(true);

    const [call] = held.calls;
    expect(call?.abortSignal?.aborted).toBe(true);
    expect(call?.abortSignal?.reason).toMatchObject({ code: "RUN_CANCELLED" });
    expect(held.errored()).toBe(true);
    expect(held.calls).toHaveLength(1); // not retried
    expect(chat.status).toBe("ready");
    const shown = textOf(chat.messages[1]);

    // The run is over: the stored log ends with the model call's rollback and the cancelled result.
    const run = await durable.store.getRun(runId!);
    expect(run).toMatchObject({ status: "failed", result: { status: 500 } });
    const events: string[] = [];
    const response = await resumeStream(resumeUrl!, {
      onData: ({ data }) => {
        const chunk = data as { type: string; delta?: string };
        if (chunk.type === "text-delta") events.push(`delta ${chunk.delta}`);
      },
      onCommit: () => events.push("commit"),
      onRollback: ({ willRetry, error }) => events.push(`rollback ${willRetry} ${error.message}`),
      onResult: ({ status }) => events.push(`result ${status}`),
    });
    expect(response.status).toBe(500);
    expect(events.slice(-4)).toEqual(["delta Hello ", "delta there ", "rollback false The run was cancelled through its resume URL.", "result failed"]);

    // No more tokens: the model's stream errored, and nothing reaches the chat or the log.
    expect(() => held.more("late ")).toThrow();
    expect(textOf(chat.messages[1])).toBe(shown);
    expect(await cancelRun(resumeUrl!)).toBe(false);
  });
});
