// uiMessageStreamHandler over loopback HTTP: the real AI SDK chat client (AbstractChat, the base of
// useChat's Chat, with the stock DefaultChatTransport) against a durable durableChat endpoint.
import type { AddressInfo } from "node:net";
import { createDurable, type DurableHandler, type DurableOptions, type EndpointOptions } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { createManualTimers, passTime, until } from "@durastream/testing";
import { APICallError, DefaultChatTransport, isStepCount, lastAssistantMessageIsCompleteWithToolCalls, tool, type UIMessage } from "ai";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createMockModel } from "../mock-model.js";
import { chatView, failingTurn, postChat, scriptedModel, textTurn, toolTurn, userMessage } from "./chat-test-kit.fixture.js";
import type { DurableChatFinishEvent, DurableChatResult } from "./durable-chat-options.js";
import { durableChat } from "./durable-chat.js";
import { uiMessageStreamHandler, type UIMessageStreamHandlerOptions } from "./ui-message-stream-handler.js";
import { RecordingState, TestChat, chatHandler } from "./ai-sdk-chat.fixture.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** Serves `handler` as durable endpoint `chat` behind uiMessageStreamHandler at /api/chat, the wait endpoint at /api/durable/. */
async function serve(
  handler: DurableHandler,
  options: { durable?: DurableOptions; endpoint?: EndpointOptions; projection?: UIMessageStreamHandlerOptions } = {},
) {
  const durable = createDurable({ backoff: () => 0, ...options.durable });
  const endpoint = durable.endpoint(handler, { id: "chat", ...options.endpoint });
  const wait = durable.waitEndpoint();
  const requests: string[] = []; // what reached the HTTP server
  const inProcessWaits: string[] = []; // what the projection read from the wait endpoint in-process
  const chat = uiMessageStreamHandler(endpoint, {
    waitEndpoint: (request) => {
      inProcessWaits.push(request.url);
      return wait(request);
    },
    ...options.projection,
  });
  const server = createEndpointServer((request) => {
    const { pathname } = new URL(request.url);
    requests.push(`${request.method} ${pathname}`);
    return pathname.startsWith("/api/durable/") ? wait(request) : chat(request);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(async () => {
    server.closeAllConnections();
    server.close();
    await durable.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/chat`, requests, inProcessWaits };
}

/** A stock AI SDK chat (the default transport) posting to `api`. */
function stockChat(api: string, init: Partial<ConstructorParameters<typeof TestChat>[0]> = {}) {
  const state = new RecordingState();
  const errors: Error[] = [];
  const chat = new TestChat({ id: "chat-1", state, transport: new DefaultChatTransport({ api }), onError: (error) => void errors.push(error), ...init });
  return { chat, state, errors };
}

const textOf = (message: UIMessage | undefined): string => (message?.parts ?? []).map((part) => (part.type === "text" ? part.text : "")).join("");
const partTypes = (message: UIMessage | undefined): string[] => (message?.parts ?? []).map((part) => part.type);

/** A durableChat handler over `model`. */
/** The `data:` payloads of a UI message stream body, and its comments. */
function sseEvents(text: string): { data: string[]; comments: string[] } {
  const events = text.split("\n\n").filter((event) => event !== "");
  return {
    data: events.filter((event) => event.startsWith("data: ")).map((event) => event.slice("data: ".length)),
    comments: events.filter((event) => event.startsWith(":")),
  };
}

describe("uiMessageStreamHandler with the stock AI SDK chat client", () => {
  it("streams a plain answer: exact final parts, status ready", async () => {
    const text = "Hello there, durable world.";
    const model = createMockModel({ text });
    const app = await serve(chatHandler(model, { generateMessageId: () => "answer-1" }));
    const { chat, state, errors } = stockChat(app.url);

    await chat.sendMessage({ text: "Hi" });

    expect(errors).toEqual([]);
    expect(state.status).toBe("ready");
    expect(state.messages).toHaveLength(2);
    expect(state.messages[1]).toEqual({
      id: "answer-1",
      role: "assistant",
      parts: [{ type: "step-start" }, { type: "text", text, state: "done" }],
    });
    expect(state.renders.length).toBeGreaterThan(2); // rendered as it streamed, not at the end
    expect(app.requests).toEqual(["POST /api/chat"]);
    expect(model.calls).toBe(1);
  });

  it("answers a stock request with the UI message stream protocol: headers, one data event per chunk, finish, [DONE]", async () => {
    const app = await serve(chatHandler(createMockModel({ text: "Two words." }), { generateMessageId: () => "m1" }));
    const response = await fetch(app.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: "c1", messages: [userMessage("Hi")], trigger: "submit-message" }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(response.headers.get("x-vercel-ai-ui-message-stream")).toBe("v1");
    expect(response.headers.get("x-durastream-run-id")).toMatch(/^[0-9A-Z]{26}$/);
    const { data } = sseEvents(await response.text());
    expect(data.at(-1)).toBe("[DONE]");
    const chunks = data.slice(0, -1).map((json) => JSON.parse(json) as { type: string });
    expect(chunks.map((chunk) => chunk.type)).toEqual(["start", "start-step", "text-start", "text-delta", "text-delta", "text-end", "finish-step", "finish"]);
    expect(chunks[0]).toEqual({ type: "start", messageId: "m1" });
    expect(chunks.at(-1)).toEqual({ type: "finish", finishReason: "stop" }); // pushed by durableChat's finish step
  });

  it("shows a failing model call's text while it streams, removes it with reset-step, and keeps the retry once", async () => {
    const model = scriptedModel([failingTurn("Wrong start "), textTurn("Right answer, complete.")]);
    const app = await serve(chatHandler(model));
    const { chat, state, errors } = stockChat(app.url);

    await chat.sendMessage({ text: "Tell me" });

    expect(errors).toEqual([]);
    expect(state.status).toBe("ready");
    expect(model.calls).toHaveLength(2);
    const shown = state.renders.findIndex((message) => textOf(message) === "Wrong start ");
    expect(shown).toBeGreaterThanOrEqual(0); // the failed attempt was rendered live…
    const reset = state.renders.findIndex((message, index) => index > shown && textOf(message) === "");
    expect(reset).toBeGreaterThan(shown); // …then removed by reset-step…
    expect(partTypes(state.renders[reset])).toEqual(["step-start"]); // …keeping the step's step-start part
    expect(state.renders.slice(reset).some((message) => textOf(message).includes("Wrong"))).toBe(false);
    const final = state.messages[1]!;
    expect(final.parts).toEqual([{ type: "step-start" }, { type: "text", text: "Right answer, complete.", state: "done" }]);
  });

  it("runs a tool once when the next model call fails once: one tool part, the text once", async () => {
    let executions = 0;
    const increment = tool({
      inputSchema: z.object({ by: z.number() }),
      execute: async ({ by }) => {
        executions += 1;
        return { value: executions * by };
      },
    });
    const model = scriptedModel([toolTurn("call-1", "increment", { by: 2 }), failingTurn("Par"), textTurn("The counter is 2.")]);
    const app = await serve(chatHandler(model, { tools: { increment }, stopWhen: isStepCount(5) }));
    const { chat, state, errors } = stockChat(app.url);

    await chat.sendMessage({ text: "Count" });

    expect(errors).toEqual([]);
    expect(state.status).toBe("ready");
    expect(executions).toBe(1);
    expect(model.calls).toHaveLength(3);
    expect(state.renders.some((message) => textOf(message) === "Par")).toBe(true); // the failed call was shown, then reset
    const final = state.messages[1]!;
    expect(partTypes(final)).toEqual(["step-start", "tool-increment", "step-start", "text"]);
    expect(final.parts[1]).toMatchObject({ toolCallId: "call-1", state: "output-available", input: { by: 2 }, output: { value: 2 } });
    expect(textOf(final)).toBe("The counter is 2.");
  });

  it("continues an answer after a client-side tool: a retried model call resets only its own parts, not the tool's step", async () => {
    const confirm = tool({ inputSchema: z.object({ question: z.string() }) }); // no execute: the client answers
    const model = scriptedModel([toolTurn("call-1", "confirm", { question: "Go?" }), failingTurn("Oops "), textTurn("Confirmed.")]);
    const app = await serve(chatHandler(model, { tools: { confirm }, stopWhen: isStepCount(5), generateMessageId: () => "a1" }));
    const { chat, state, errors } = stockChat(app.url, { sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithToolCalls });

    await chat.sendMessage({ text: "Ask me" });
    expect(partTypes(state.messages[1])).toEqual(["step-start", "tool-confirm"]);
    await chat.addToolOutput({ tool: "confirm", toolCallId: "call-1", output: "yes" });
    await until(() => model.calls.length === 3 && state.status === "ready", "the continuation to finish");

    expect(errors).toEqual([]);
    expect(state.renders.some((message) => textOf(message) === "Oops ")).toBe(true); // shown, then reset
    expect(state.messages).toHaveLength(2);
    const final = state.messages[1]!;
    expect(final.id).toBe("a1");
    expect(partTypes(final)).toEqual(["step-start", "tool-confirm", "step-start", "text"]);
    expect(final.parts[1]).toMatchObject({ toolCallId: "call-1", state: "output-available", output: "yes" });
    expect(textOf(final)).toBe("Confirmed.");
  });

  it("keeps the stock client's one connection through a suspension (a retry backoff longer than maxInlineWait)", async () => {
    const timers = createManualTimers();
    const model = scriptedModel([failingTurn("Th"), textTurn("Three.")]);
    const app = await serve(chatHandler(model), { durable: { timers, maxInlineWait: 1_000, backoff: () => 60_000 } });
    const { chat, state, errors } = stockChat(app.url);

    const sending = chat.sendMessage({ text: "Three" });
    await until(() => app.inProcessWaits.length === 1, "the projection to follow the run to the wait endpoint");
    expect(state.status).toBe("streaming");
    await passTime(timers, 60_000);
    await sending;

    expect(errors).toEqual([]);
    expect(state.status).toBe("ready");
    expect(model.calls).toHaveLength(2);
    expect(state.messages[1]!.parts).toEqual([{ type: "step-start" }, { type: "text", text: "Three.", state: "done" }]);
    expect(app.requests).toEqual(["POST /api/chat"]); // one HTTP connection from the client, the wait stream read in-process
  });

  it("sends keep-alive comments while the run waits, then the rest of the answer", async () => {
    const timers = createManualTimers();
    const model = scriptedModel([failingTurn("Th"), textTurn("Done.")]);
    const app = await serve(chatHandler(model), {
      durable: { timers, maxInlineWait: 1_000, backoff: () => 60_000 },
      projection: { keepAliveInterval: 5 },
    });
    const response = await fetch(app.url, { method: "POST", body: JSON.stringify({ messages: [userMessage("Hi")] }) });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes(": keep-alive\n\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended without a keep-alive: ${text}`);
      text += value;
    }
    await passTime(timers, 60_000);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    const { data, comments } = sseEvents(text);
    expect(comments.length).toBeGreaterThan(0);
    expect(data.at(-1)).toBe("[DONE]");
    const types = data.slice(0, -1).map((json) => (JSON.parse(json) as { type: string }).type);
    expect(types.filter((type) => type === "reset-step")).toHaveLength(1);
    expect(types.filter((type) => type === "start-step")).toHaveLength(1); // the retry's start-step was dropped
    expect(types.at(-1)).toBe("finish");
  });

  it("ends a run that fails for good with one error chunk: the chat is in error with the errorText", async () => {
    const badRequest = new APICallError({
      message: "Invalid model parameters",
      url: "https://api.example.com/v1/chat",
      requestBodyValues: {},
      statusCode: 400,
    });
    const model = scriptedModel([badRequest]);
    const app = await serve(chatHandler(model));
    const { chat, state, errors } = stockChat(app.url);

    await chat.sendMessage({ text: "Hi" });

    expect(model.calls).toHaveLength(1);
    expect(state.status).toBe("error");
    expect(errors).toHaveLength(1);
    expect(state.error?.message).toMatch(/^Step "llm:0" failed after 1 attempt: .*Invalid model parameters/);
  });

  it("sends no error for failures that are retried, and the errorText option's text for the final one", async () => {
    const model = scriptedModel([failingTurn("One "), failingTurn("Two "), failingTurn("Three ")]);
    const app = await serve(chatHandler(model), { endpoint: { retries: 2 }, projection: { errorText: () => "An error occurred." } });
    const response = await fetch(app.url, { method: "POST", body: JSON.stringify({ messages: [userMessage("Hi")] }) });
    const { data } = sseEvents(await response.text());
    const chunks = data.slice(0, -1).map((json) => JSON.parse(json) as { type: string });
    expect(model.calls).toHaveLength(3);
    expect(chunks.filter((chunk) => chunk.type === "reset-step")).toHaveLength(3);
    expect(chunks.filter((chunk) => chunk.type === "error")).toEqual([{ type: "error", errorText: "An error occurred." }]);
    expect(chunks.at(-1)).toEqual({ type: "error", errorText: "An error occurred." });
    expect(data.at(-1)).toBe("[DONE]");
  });

  it("passes a response that is not a stream (413 from the endpoint) through as it came", async () => {
    const model = createMockModel({ text: "never" });
    const app = await serve(chatHandler(model), { durable: { maxBodyBytes: 16 } });
    const { chat, state } = stockChat(app.url);

    await chat.sendMessage({ text: "A message longer than sixteen bytes" });

    expect(state.status).toBe("error");
    expect(state.error).toMatchObject({ statusCode: 413 });
    expect(model.calls).toBe(0);
  });

  it("lets the run finish when the stock client stops reading (no cancelOnDisconnect)", async () => {
    const model = createMockModel({ text: "word ".repeat(40), tokenDelayMs: 2 });
    const finished: DurableChatFinishEvent[] = [];
    const app = await serve(chatHandler(model, { onFinish: (event) => void finished.push(event) }));
    const { chat, state } = stockChat(app.url);

    const sending = chat.sendMessage({ text: "Go" });
    await until(() => textOf(state.messages[1]).length > 0, "the first tokens to render");
    await chat.stop();
    await sending;
    const shown = textOf(state.messages[1]);

    await until(() => finished.length === 1, "the run to finish in the background");
    expect(textOf(finished[0]!.responseMessage)).toBe("word ".repeat(40));
    expect(shown.length).toBeLessThan("word ".repeat(40).length);
    expect(model.calls).toBe(1);
  });

  it("cancels the run when the stock client stops reading and the endpoint has cancelOnDisconnect", async () => {
    const model = createMockModel({ text: "word ".repeat(1_000), tokenDelayMs: 20 }); // 20 s unless cancelled
    let settled: unknown;
    const app = await serve(
      async (request) => {
        const { messages } = (await request.json()) as { messages: UIMessage[] };
        return durableChat({ model, messages }).catch((error: unknown) => {
          settled = error;
          throw error;
        });
      },
      { endpoint: { cancelOnDisconnect: true } },
    );
    const { chat, state } = stockChat(app.url);

    const sending = chat.sendMessage({ text: "Go" });
    await until(() => textOf(state.messages[1]).length > 0, "the first tokens to render");
    await chat.stop();
    await sending;

    await until(() => (settled as { code?: string } | undefined)?.code === "RUN_CANCELLED", "the run to be cancelled");
    expect(model.calls).toBe(1);
  });

  it("gives a Durastream client (fetchWithStream) on the same route the Durastream protocol", async () => {
    const text = "Same route, other protocol.";
    const app = await serve(chatHandler(createMockModel({ text }), { generateMessageId: () => "a1" }));
    const view = chatView();
    const metadata: string[] = [];

    const response = await postChat(app.url, [userMessage("Hi")], view, { onMetadata: ({ runId }) => void metadata.push(runId) });
    const result = (await response.json()) as DurableChatResult;

    expect(metadata).toHaveLength(1);
    expect(view.events.filter((event) => event === "commit").length).toBeGreaterThanOrEqual(3); // message, llm:0, finish
    expect(view.committed[0]).toEqual({ type: "start", messageId: "a1" });
    expect(view.committed.at(-1)).toEqual({ type: "finish", finishReason: "stop" });
    expect(result.responseMessage.parts).toEqual([{ type: "step-start" }, { type: "text", text, state: "done" }]);
    expect(app.inProcessWaits).toEqual([]);
  });
});
