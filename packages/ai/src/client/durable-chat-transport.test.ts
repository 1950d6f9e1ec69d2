// createDurableChatTransport over loopback HTTP: the real AI SDK chat client (AbstractChat, the base
// of useChat's Chat) with our transport, against durableChat behind uiMessageStreamHandler.
import type { AddressInfo } from "node:net";
import type { DurableStreamStorage, FetchFunction } from "@durastream/client";
import { createDurable, type DurableHandler, type DurableOptions } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { createManualTimers, passTime, until } from "@durastream/testing";
import type { UIMessage } from "ai";
import { afterEach, describe, expect, it } from "vitest";
import { failingTurn, scriptedModel, textTurn } from "../chat/chat-test-kit.fixture.js";
import { uiMessageChatKey, uiMessageResumeHandler } from "../chat/ui-message-resume-handler.js";
import { uiMessageStreamHandler } from "../chat/ui-message-stream-handler.js";
import { createMockModel } from "../mock-model.js";
import { createDurableChatTransport, type DurableChatState, type DurableChatTransport, type DurableChatTransportOptions } from "./index.js";
import { RecordingState, TestChat, chatHandler } from "../chat/ai-sdk-chat.fixture.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** One request as the HTTP server saw it. */
interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly accept: string | null;
  readonly lastEventId: string | null;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

/** durableChat over `model` as endpoint `chat` behind uiMessageStreamHandler at /api/chat; the wait endpoint at /api/durable/. */
async function serve(handler: DurableHandler, options: DurableOptions = {}) {
  const durable = createDurable({ backoff: () => 0, ...options });
  const endpoint = durable.endpoint(handler, { id: "chat", key: uiMessageChatKey });
  const wait = durable.waitEndpoint();
  const chat = uiMessageStreamHandler(endpoint, { waitEndpoint: wait });
  const resume = uiMessageResumeHandler(durable, { endpointId: "chat", waitEndpoint: wait });
  const requests: SeenRequest[] = [];
  const server = createEndpointServer(async (request) => {
    const { pathname } = new URL(request.url);
    const body = request.method === "POST" ? ((await request.clone().json()) as unknown) : undefined;
    requests.push({
      method: request.method,
      path: pathname,
      accept: request.headers.get("accept"),
      lastEventId: request.headers.get("last-event-id"),
      headers: Object.fromEntries(request.headers),
      body,
    });
    if (pathname.startsWith("/api/durable/")) return wait(request);
    return pathname.endsWith("/stream") ? resume(request) : chat(request);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(async () => {
    server.closeAllConnections();
    server.close();
    await durable.close();
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { origin, url: `${origin}/api/chat`, requests };
}

/** A chat `chat-1` using a durable chat transport. */
function durableChatClient(options: DurableChatTransportOptions, messages: UIMessage[] = []) {
  const transport: DurableChatTransport = createDurableChatTransport({ storage: false, reconnect: { initialDelay: 0 }, ...options });
  const state = new RecordingState(messages);
  const errors: Error[] = [];
  const chat = new TestChat({ id: "chat-1", state, transport, onError: (error) => void errors.push(error) });
  return { chat, state, errors, transport };
}

/** A storage substitute that outlives the transport (what sessionStorage is across a reload). */
function memoryStorage(): DurableStreamStorage & { readonly items: Map<string, string> } {
  const items = new Map<string, string>();
  return { items, getItem: (key) => items.get(key) ?? null, setItem: (key, value) => void items.set(key, value), removeItem: (key) => void items.delete(key) };
}

const textOf = (message: UIMessage | undefined): string => (message?.parts ?? []).map((part) => (part.type === "text" ? part.text : "")).join("");

/**
 * A fetch whose first event-stream response body fails (as a reset connection does) once the
 * bytes delivered satisfy `drop`; `delivered()` is what got through before.
 */
function droppingFetch(drop: (delivered: string) => boolean) {
  let used = false;
  let delivered = "";
  const dropping: FetchFunction = async (input, init) => {
    const response = await fetch(input, init);
    if (used || response.body === null || !(response.headers.get("content-type") ?? "").startsWith("text/event-stream")) return response;
    used = true;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let failNext = false;
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          if (failNext) {
            await reader.cancel();
            controller.error(new TypeError("fetch failed: the connection was reset (test)"));
            return;
          }
          const { value, done } = await reader.read();
          if (done) return controller.close();
          delivered += decoder.decode(value, { stream: true });
          controller.enqueue(value);
          failNext = drop(delivered);
        },
        cancel: (reason) => reader.cancel(reason),
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
  return { fetch: dropping, delivered: () => delivered };
}

/** The `id:` of the last complete SSE event in `text`: the offset a client has after reading it. */
function lastCompleteEventId(text: string): string | undefined {
  const complete = text.slice(0, text.lastIndexOf("\n\n") + 2);
  return [...complete.matchAll(/^id: (.+)$/gm)].at(-1)?.[1];
}

describe("createDurableChatTransport with the AI SDK chat client", () => {
  it("streams a plain answer in the Durastream protocol: exact final parts, the stock request body", async () => {
    const text = "Hello there, durable world.";
    const model = createMockModel({ text });
    const app = await serve(chatHandler(model, { generateMessageId: () => "answer-1" }));
    const { chat, state, errors, transport } = durableChatClient({ api: app.url, body: { sessionId: "s1" } });

    await chat.sendMessage({ text: "Hi" });

    expect(errors).toEqual([]);
    expect(state.status).toBe("ready");
    expect(state.messages).toHaveLength(2);
    expect(state.messages[1]).toEqual({
      id: "answer-1",
      role: "assistant",
      parts: [{ type: "step-start" }, { type: "text", text, state: "done" }],
    });
    expect(state.renders.length).toBeGreaterThan(2); // rendered as it streamed
    expect(model.calls).toBe(1);
    expect(app.requests).toHaveLength(1);
    const [post] = app.requests;
    expect(post).toMatchObject({ method: "POST", path: "/api/chat", lastEventId: null });
    expect(post!.accept).toContain("text/event-stream"); // so uiMessageStreamHandler passed it through
    expect(Object.keys(post!.body as object).sort()).toEqual(["id", "messages", "sessionId", "trigger"]); // DefaultChatTransport's body
    expect(post!.body).toMatchObject({ id: "chat-1", trigger: "submit-message", sessionId: "s1" });
    const final = transport.getState("chat-1");
    expect(final).toMatchObject({ status: "succeeded", committedText: text, uncommittedText: "", error: null });
    expect(final.runId).toMatch(/^[0-9A-Z]{26}$/);
    expect(transport.getState("chat-1")).toBe(final); // stable between changes
  });

  it("removes a failing model call's text with reset-step and keeps the retry's text once", async () => {
    const model = scriptedModel([failingTurn("Wrong start "), textTurn("Right answer, complete.")]);
    const app = await serve(chatHandler(model));
    const { chat, state, errors } = durableChatClient({ api: app.url });

    await chat.sendMessage({ text: "Tell me" });

    expect(errors).toEqual([]);
    expect(state.status).toBe("ready");
    expect(model.calls).toHaveLength(2);
    const shown = state.renders.findIndex((message) => textOf(message) === "Wrong start ");
    expect(shown).toBeGreaterThanOrEqual(0); // the failed attempt was rendered live…
    const reset = state.renders.findIndex((message, index) => index > shown && textOf(message) === "");
    expect(reset).toBeGreaterThan(shown); // …then removed by reset-step, keeping the step's step-start part
    expect(state.renders[reset]!.parts).toEqual([{ type: "step-start" }]);
    expect(state.renders.slice(reset).some((message) => textOf(message).includes("Wrong"))).toBe(false);
    expect(state.messages[1]!.parts).toEqual([{ type: "step-start" }, { type: "text", text: "Right answer, complete.", state: "done" }]);
  });

  it("shows committed and uncommitted text apart: the failed attempt's text uncommitted, gone after the rollback", async () => {
    const model = scriptedModel([failingTurn("Wrong start "), textTurn("Right answer.")]);
    const app = await serve(chatHandler(model));
    const { chat, transport } = durableChatClient({ api: app.url });
    const states: DurableChatState[] = [];
    const unsubscribe = transport.subscribe("chat-1", () => {
      const current = transport.getState("chat-1");
      if (states.at(-1) !== current) states.push(current);
    });
    expect(transport.getState("chat-1")).toMatchObject({ status: "idle", committedText: "", uncommittedText: "", runId: null });

    await chat.sendMessage({ text: "Tell me" });
    unsubscribe();

    const texts = states.map(({ committedText, uncommittedText }) => [committedText, uncommittedText]);
    const during = texts.findIndex(([committed, uncommitted]) => committed === "" && uncommitted === "Wrong start ");
    expect(during).toBeGreaterThanOrEqual(0); // the failing call's text, uncommitted while it streamed
    const afterRollback = texts.findIndex(([committed, uncommitted], index) => index > during && committed === "" && uncommitted === "");
    expect(afterRollback).toBeGreaterThan(during); // dropped by the rollback
    expect(texts.slice(afterRollback)).toContainEqual(["", "Right "]); // the retry streams uncommitted…
    expect(states.slice(afterRollback).some((state) => state.uncommittedText.includes("Wrong") || state.committedText.includes("Wrong"))).toBe(false);
    expect(states.at(-1)).toMatchObject({ status: "succeeded", committedText: "Right answer.", uncommittedText: "" }); // …then commits
    expect(states.some((state) => state.status === "streaming")).toBe(true);
    expect(new Set(states.map((state) => state.runId).filter((id) => id !== null)).size).toBe(1);
  });

  it("sends what prepareSendMessagesRequest returns", async () => {
    const app = await serve(chatHandler(createMockModel({ text: "Short." })));
    const { chat, state, errors } = durableChatClient({
      api: `${app.origin}/unused`,
      headers: { "x-base": "1" },
      prepareSendMessagesRequest: ({ id, messages, headers }) => ({
        api: app.url,
        body: { id, messages: messages.slice(-1), custom: true },
        headers: { ...(headers as Record<string, string>), "x-prepared": "yes" },
      }),
    });

    await chat.sendMessage({ text: "Hi" });

    expect(errors).toEqual([]);
    expect(textOf(state.messages[1])).toBe("Short.");
    expect(app.requests).toHaveLength(1);
    expect(app.requests[0]).toMatchObject({ method: "POST", path: "/api/chat", body: { id: "chat-1", custom: true } });
    expect((app.requests[0]!.body as { messages: unknown[] }).messages).toHaveLength(1);
    expect(app.requests[0]!.headers).toMatchObject({ "x-base": "1", "x-prepared": "yes", "content-type": "application/json" });
  });

  it("follows the run to the wait endpoint while it waits in the background (a retry backoff longer than maxInlineWait)", async () => {
    const timers = createManualTimers();
    const model = scriptedModel([failingTurn("Th"), textTurn("Three.")]);
    const app = await serve(chatHandler(model), { timers, maxInlineWait: 1_000, backoff: () => 60_000 });
    const { chat, state, errors, transport } = durableChatClient({ api: app.url });
    const statuses: string[] = [];
    transport.subscribe("chat-1", () => void statuses.push(transport.getState("chat-1").status));

    const sending = chat.sendMessage({ text: "Three" });
    await until(() => app.requests.length === 2, "the client to follow the redirect to the wait endpoint");
    expect(transport.getState("chat-1").status).toBe("waiting");
    await passTime(timers, 60_000);
    await sending;

    expect(errors).toEqual([]);
    expect(state.messages[1]!.parts).toEqual([{ type: "step-start" }, { type: "text", text: "Three.", state: "done" }]);
    expect(app.requests[1]).toMatchObject({ method: "GET" });
    expect(app.requests[1]!.path).toMatch(/^\/api\/durable\//);
    expect(app.requests[1]!.lastEventId).not.toBeNull(); // on from where the first connection stopped
    expect(statuses).toContain("waiting");
    expect(model.calls).toHaveLength(2);
  });

  it("reconnects from the last offset after a dropped connection: no replayed chunk, the text once", async () => {
    const text = "one two three four five six seven eight nine ten eleven twelve.";
    const model = createMockModel({ text, tokenDelayMs: 5 });
    const app = await serve(chatHandler(model, { generateMessageId: () => "answer-1" }));
    const dropping = droppingFetch((delivered) => delivered.split('"type":"text-delta"').length > 4); // after 4 deltas
    const { chat, state, errors, transport } = durableChatClient({ api: app.url, fetch: dropping.fetch });
    const statuses: string[] = [];
    transport.subscribe("chat-1", () => void statuses.push(transport.getState("chat-1").status));

    await chat.sendMessage({ text: "Count" });

    expect(errors).toEqual([]);
    expect(state.status).toBe("ready");
    expect(model.calls).toBe(1);
    expect(state.messages).toHaveLength(2);
    expect(state.messages[1]).toEqual({ id: "answer-1", role: "assistant", parts: [{ type: "step-start" }, { type: "text", text, state: "done" }] });
    expect(app.requests.map(({ method, path }) => `${method} ${path.replace(/[0-9A-Z]{26}$/, "<run>")}`)).toEqual(["POST /api/chat", "GET /api/durable/<run>"]);
    const offset = lastCompleteEventId(dropping.delivered());
    expect(offset).toBeDefined();
    expect(app.requests[1]!.lastEventId).toBe(offset); // resumed after the last frame received: nothing sent twice
    expect(state.renders.every((message) => text.startsWith(textOf(message)))).toBe(true); // no chunk applied twice
    expect(state.renders.some((message) => textOf(message).length > 0 && textOf(message).length < text.length)).toBe(true); // the drop was mid-answer
    expect(statuses).toContain("reconnecting");
    expect(transport.getState("chat-1")).toMatchObject({ status: "succeeded", committedText: text });
  });

  it("resumes the chat's run after a reload (new transport, same storage): replays it, the message once", async () => {
    const text = "word ".repeat(40).trim();
    const model = createMockModel({ text, tokenDelayMs: 10 });
    const app = await serve(chatHandler(model, { generateMessageId: () => "answer-1" }));
    const storage = memoryStorage();
    const before = durableChatClient({ api: app.url, storage });

    const sending = before.chat.sendMessage({ text: "Go" });
    await until(() => textOf(before.state.messages[1]).length > 0, "the first tokens to render");
    await before.chat.stop(); // closes the connection only: the run goes on
    await sending;
    expect(before.transport.getState("chat-1").status).toBe("aborted");
    expect(JSON.parse(storage.items.get("durastream-chat:chat-1") ?? "null")).toMatchObject({ runId: before.transport.getState("chat-1").runId });

    // The reloaded page: a new transport over the same storage, the messages the app persisted (the partial answer too).
    const persisted = structuredClone(before.state.messages);
    expect(textOf(persisted[1]).length).toBeLessThan(text.length);
    const after = durableChatClient({ api: app.url, storage }, persisted);
    expect(after.transport.resumeStreamIsReplay).toBe(true);
    await after.chat.resumeStream();

    expect(after.errors).toEqual([]);
    expect(after.state.status).toBe("ready");
    expect(after.state.messages).toHaveLength(2);
    expect(after.state.messages[1]).toEqual({ id: "answer-1", role: "assistant", parts: [{ type: "step-start" }, { type: "text", text, state: "done" }] });
    const resume = app.requests.at(-1)!;
    expect(resume).toMatchObject({ method: "GET", lastEventId: null }); // from the start of the log
    expect(resume.path).toMatch(/^\/api\/durable\//);
    expect(model.calls).toBe(1);
    expect(storage.items.has("durastream-chat:chat-1")).toBe(false); // the run is over: forgotten…
    expect(await after.transport.reconnectToStream({ chatId: "chat-1" })).toBeNull(); // …so there is nothing to resume
  });

  it("returns null from reconnectToStream when it knows no run for the chat, or the wait endpoint no longer does", async () => {
    const app = await serve(chatHandler(createMockModel({ text: "never" })));
    const { chat, state, errors, transport } = durableChatClient({ api: app.url, storage: memoryStorage() });

    await chat.resumeStream(); // nothing remembered: asks the resume route, which has no run for the chat (204)
    expect(state.status).toBe("ready");
    expect(state.messages).toEqual([]);
    expect(errors).toEqual([]);
    expect(app.requests.map(({ method, path, accept }) => `${method} ${path} ${accept}`)).toEqual(["GET /api/chat/chat-1/stream text/event-stream"]);
    app.requests.length = 0;

    const storage = memoryStorage();
    const runId = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    storage.setItem("durastream-chat:chat-1", JSON.stringify({ runId, resumeUrl: `${app.origin}/api/durable/${runId}?token=expired` }));
    const stale = createDurableChatTransport({ api: app.url, storage, resumeRoute: false });
    expect(await stale.reconnectToStream({ chatId: "chat-1" })).toBeNull();
    expect(app.requests.map(({ method, path }) => `${method} ${path}`)).toEqual([`GET /api/durable/${runId}`]); // answered 404
    expect(storage.items.has("durastream-chat:chat-1")).toBe(false);
    expect(transport.getState("chat-1").status).toBe("idle");
  });

  it("asks the resume route when it remembers no run (another tab): replays the chat's active run from its start, then follows it", async () => {
    const text = "word ".repeat(40).trim();
    const model = createMockModel({ text, tokenDelayMs: 10 });
    const app = await serve(chatHandler(model, { generateMessageId: () => "answer-1" }));
    const first = durableChatClient({ api: app.url, storage: memoryStorage() });
    const sending = first.chat.sendMessage({ text: "Go" });
    await until(() => textOf(first.state.messages[1]).length > 0, "the first tokens to render");

    // Another tab: its own storage (nothing remembered), the chat's persisted user message.
    const other = durableChatClient({ api: app.url, storage: memoryStorage() }, [structuredClone(first.state.messages[0]!)]);
    await other.chat.resumeStream();
    await sending;

    expect(other.errors).toEqual([]);
    expect(other.state.messages[1]).toEqual({ id: "answer-1", role: "assistant", parts: [{ type: "step-start" }, { type: "text", text, state: "done" }] });
    expect(other.transport.getState("chat-1")).toMatchObject({ status: "succeeded", committedText: text });
    expect(app.requests.filter(({ method }) => method === "GET").map(({ path, accept }) => `${path} ${accept}`)).toEqual([
      "/api/chat/chat-1/stream text/event-stream",
    ]);
    expect(model.calls).toBe(1);
  });

  it("resumeRoute: a custom route, or false to never ask one; a route that is not mounted (404) is nothing to resume", async () => {
    const app = await serve(chatHandler(createMockModel({ text: "never" })));
    const custom = createDurableChatTransport({ api: app.url, storage: false, resumeRoute: (id) => `${app.origin}/api/chats/${id}/stream` });
    expect(await custom.reconnectToStream({ chatId: "a/b" })).toBeNull(); // 204 from the resume route
    const none = createDurableChatTransport({ api: app.url, storage: false, resumeRoute: false });
    expect(await none.reconnectToStream({ chatId: "chat-1" })).toBeNull();
    const unmounted = createDurableChatTransport({ api: app.url, storage: false, resumeRoute: () => `${app.origin}/api/durable/nothing-here` });
    expect(await unmounted.reconnectToStream({ chatId: "chat-1" })).toBeNull(); // the wait endpoint's 404
    expect(app.requests.map(({ method, path }) => `${method} ${path}`)).toEqual(["GET /api/chats/a/b/stream", "GET /api/durable/nothing-here"]);
  });

  it("cancel(chatId) after stop(): the run is cancelled on the server and forgotten, so a reload has nothing to replay", async () => {
    const text = "word ".repeat(200).trim();
    const model = createMockModel({ text, tokenDelayMs: 10 });
    const app = await serve(chatHandler(model));
    const storage = memoryStorage();
    const before = durableChatClient({ api: app.url, storage, headers: { "x-app": "1" } });
    expect(await before.transport.cancel("chat-1")).toBe(false); // nothing known yet

    const sending = before.chat.sendMessage({ text: "Go" });
    await until(() => textOf(before.state.messages[1]).length > 0, "the first tokens to render");
    await before.chat.stop();
    await sending;
    const { resumeUrl } = before.transport.getState("chat-1");
    expect(await before.transport.cancel("chat-1")).toBe(true);

    const cancel = app.requests.at(-1)!;
    expect(cancel).toMatchObject({ method: "DELETE", path: new URL(resumeUrl!).pathname });
    expect(cancel.headers["x-app"]).toBe("1");
    expect(storage.items.has("durastream-chat:chat-1")).toBe(false);
    const after = durableChatClient({ api: app.url, storage, resumeRoute: false }, structuredClone(before.state.messages));
    expect(await after.transport.reconnectToStream({ chatId: "chat-1" })).toBeNull();
    // The server's run is over: the resume route of the chat finds nothing running.
    const resumed = await fetch(`${app.origin}/api/chat/chat-1/stream`);
    expect(resumed.status).toBe(204);
    expect(textOf(before.state.messages[1]).length).toBeLessThan(text.length);
  });

  it("fails the request with the status when the route answers without a stream", async () => {
    const durable = createDurable({ maxBodyBytes: 16 });
    closers.push(() => durable.close());
    const endpoint = durable.endpoint(chatHandler(createMockModel({ text: "never" })), { id: "chat" });
    const server = createEndpointServer(uiMessageStreamHandler(endpoint));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closers.push(async () => {
      server.closeAllConnections();
      server.close();
    });
    const { chat, state } = durableChatClient({ api: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/chat` });

    await chat.sendMessage({ text: "A message longer than sixteen bytes" });

    expect(state.status).toBe("error");
    expect(state.error).toMatchObject({ statusCode: 413 });
  });
});
