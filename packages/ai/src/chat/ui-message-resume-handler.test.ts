// uiMessageResumeHandler over loopback HTTP: the real AI SDK chat client (AbstractChat with the
// stock DefaultChatTransport, whose resumeStreamIsReplay is true) resuming a durableChat answer
// through GET /api/chat/<id>/stream, as useChat({ resume: true }) does on mount.
import type { AddressInfo } from "node:net";
import { createFrameDecoder, type Frame } from "@durastream/protocol";
import { createDurable, type DurableHandler } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { until } from "@durastream/testing";
import { DefaultChatTransport, type UIMessage } from "ai";
import { afterEach, describe, expect, it } from "vitest";
import { createMockModel } from "../mock-model.js";
import { userMessage } from "./chat-test-kit.fixture.js";
import { durableChat } from "./durable-chat.js";
import { uiMessageChatKey, uiMessageResumeHandler } from "./ui-message-resume-handler.js";
import { uiMessageStreamHandler } from "./ui-message-stream-handler.js";
import { RecordingState, TestChat } from "./ai-sdk-chat.fixture.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** The chat endpoint `chat` keyed by chat id at POST /api/chat, the resume route at GET /api/chat/<id>/stream. */
async function serve(handler: DurableHandler) {
  const durable = createDurable({ backoff: () => 0 });
  const endpoint = durable.endpoint(handler, { id: "chat", key: uiMessageChatKey });
  const wait = durable.waitEndpoint();
  const chat = uiMessageStreamHandler(endpoint, { waitEndpoint: wait });
  const resume = uiMessageResumeHandler(durable, { endpointId: "chat", waitEndpoint: wait });
  const requests: string[] = [];
  const server = createEndpointServer((request) => {
    const { pathname } = new URL(request.url);
    requests.push(`${request.method} ${pathname}`);
    if (pathname.startsWith("/api/durable/")) return wait(request);
    if (pathname.endsWith("/stream")) return resume(request);
    return chat(request);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(async () => {
    server.closeAllConnections();
    server.close();
    await durable.close({ timeout: 1_000 });
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/chat`, requests };
}

/** A stock AI SDK chat with id `chat-1` (the default transport) on `api`, starting from `messages`. */
function stockChat(api: string, messages: UIMessage[] = []) {
  const state = new RecordingState(messages);
  const errors: Error[] = [];
  const chat = new TestChat({ id: "chat-1", state, transport: new DefaultChatTransport({ api }), onError: (error) => void errors.push(error) });
  return { chat, state, errors };
}

const textOf = (message: UIMessage | undefined): string => (message?.parts ?? []).map((part) => (part.type === "text" ? part.text : "")).join("");

const ANSWER = "One two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen.";

/** A durableChat handler whose model streams ANSWER a word every 25 ms. */
function slowChat() {
  const model = createMockModel({ text: ANSWER, tokenDelayMs: 25 });
  const handler: DurableHandler = async (request) => {
    const { messages } = (await request.json()) as { messages: UIMessage[] };
    return durableChat({ model, messages, generateMessageId: () => "answer-1" });
  };
  return { model, handler };
}

describe("uiMessageResumeHandler with the stock AI SDK chat client", () => {
  it("answers 204 when no answer of the chat is active: resumeStream leaves the chat as it is", async () => {
    const { handler, model } = slowChat();
    const app = await serve(handler);
    const { chat, state, errors } = stockChat(app.url, [userMessage("Hi")]);
    await chat.resumeStream();
    expect(errors).toEqual([]);
    expect(state.status).toBe("ready");
    expect(state.messages).toEqual([userMessage("Hi")]);
    expect(app.requests).toEqual(["GET /api/chat/chat-1/stream"]);
    expect((await fetch(`${app.url}/chat-1/stream`)).status).toBe(204);
    expect(model.calls).toBe(0);
  });

  it("replays an active answer from its start to a chat that resumes, then follows it live; the model runs once", async () => {
    const { handler, model } = slowChat();
    const app = await serve(handler);
    const sender = stockChat(app.url);
    const sent = sender.chat.sendMessage({ text: "Count" });
    await until(() => textOf(sender.state.renders.at(-1)).length > 0, "the answer streaming");

    // A reload: the persisted user message only, then useChat({ resume: true }) calls resumeStream().
    const reloaded = stockChat(app.url, [structuredClone(sender.state.messages[0]!)]);
    const resumed = reloaded.chat.resumeStream();
    await Promise.all([sent, resumed]);

    expect(sender.errors).toEqual([]);
    expect(reloaded.errors).toEqual([]);
    expect(reloaded.state.status).toBe("ready");
    expect(reloaded.state.messages).toHaveLength(2);
    expect(reloaded.state.messages[1]).toEqual(sender.state.messages[1]);
    expect(reloaded.state.messages[1]).toEqual({
      id: "answer-1",
      role: "assistant",
      parts: [{ type: "step-start" }, { type: "text", text: ANSWER, state: "done" }],
    });
    // Replayed from the start: the first render holds the beginning of the answer.
    expect(ANSWER.startsWith(textOf(reloaded.state.renders[0]))).toBe(true);
    expect(model.calls).toBe(1);
    expect(app.requests.filter((request) => request === "POST /api/chat")).toHaveLength(1);
    expect(app.requests).toContain("GET /api/chat/chat-1/stream");
    // Over: nothing to resume any more.
    expect((await fetch(`${app.url}/chat-1/stream`)).status).toBe(204);
  });

  it("does not duplicate the message a reloaded page persisted half-way: the replay replaces it", async () => {
    const { handler, model } = slowChat();
    const app = await serve(handler);
    const sender = stockChat(app.url);
    const sent = sender.chat.sendMessage({ text: "Count" });
    await until(() => textOf(sender.state.renders.at(-1)).split(" ").length > 3, "a few words streamed");
    const persisted = structuredClone(sender.state.messages);
    expect(persisted).toHaveLength(2);
    expect(textOf(persisted[1])).not.toBe(ANSWER);

    const reloaded = stockChat(app.url, persisted);
    await Promise.all([sent, reloaded.chat.resumeStream()]);
    expect(reloaded.errors).toEqual([]);
    expect(reloaded.state.messages.map((message) => message.id)).toEqual([persisted[0]!.id, "answer-1"]);
    expect(reloaded.state.messages[1]!.parts).toEqual([{ type: "step-start" }, { type: "text", text: ANSWER, state: "done" }]);
    expect(model.calls).toBe(1);
  });

  it("gives a Durastream client (Accept: text/event-stream) the run's own stream from the start", async () => {
    const { handler } = slowChat();
    const app = await serve(handler);
    const sender = stockChat(app.url);
    const sent = sender.chat.sendMessage({ text: "Count" });
    await until(() => sender.state.renders.length > 0, "the answer streaming");
    const response = await fetch(`${app.url}/chat-1/stream`, { headers: { accept: "text/event-stream" } });
    expect(response.status).toBe(200);
    const frames: Frame[] = [];
    const decoder = createFrameDecoder({ onFrame: (frame) => frames.push(frame), onError: (error) => expect.fail(error.message) });
    decoder.feed(new Uint8Array(await response.arrayBuffer()));
    decoder.end();
    await sent;
    expect(frames[0]).toMatchObject({ type: "metadata" });
    expect(frames.at(-1)).toMatchObject({ type: "result", status: "succeeded" });
  });

  it("checks its options", () => {
    const durable = createDurable();
    expect(() => uiMessageResumeHandler({} as never, { endpointId: "chat" })).toThrow(/pass the object createDurable returned/);
    expect(() => uiMessageResumeHandler(durable, {} as never)).toThrow(/"endpointId" must be/);
    expect(() => uiMessageResumeHandler(durable, { endpointId: "chat", keepAliveInterval: 0 })).toThrow(/keepAliveInterval/);
    void durable.close();
  });
});
