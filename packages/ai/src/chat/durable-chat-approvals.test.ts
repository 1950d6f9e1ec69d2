// durableChat's tool approvals over loopback HTTP: the real AI SDK chat client (AbstractChat with the
// stock DefaultChatTransport, or our transport) against durableChat behind uiMessageStreamHandler,
// with the approval route of uiMessageApprovalHandler. A run waits durably for the decision; the
// answer goes on on the same connection.
import type { AddressInfo } from "node:net";
import type { LanguageModelV4StreamPart } from "@ai-sdk/provider";
import { DurableClientError } from "@durastream/client";
import { createDurable, type DurableHandler, type DurableOptions } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { createManualTimers, passTime, until } from "@durastream/testing";
import {
  DefaultChatTransport,
  isStepCount,
  lastAssistantMessageIsCompleteWithApprovalResponses,
  tool,
  type ToolUIPart,
  type UIMessage,
  type UIMessageChunk,
} from "ai";
import { signToolApproval } from "ai/internal";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createDurableChatTransport, sendToolApproval } from "../client/index.js";
import { RecordingState, TestChat } from "./ai-sdk-chat.fixture.js";
import { chatApprovalEvent } from "./chat-approval-event.js";
import { scriptedModel, textTurn, toolTurn, userMessage } from "./chat-test-kit.fixture.js";
import type { DurableChatOptions } from "./durable-chat-options.js";
import { durableChat } from "./durable-chat.js";
import { uiMessageApprovalHandler } from "./ui-message-approval-handler.js";
import { uiMessageStreamHandler } from "./ui-message-stream-handler.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/**
 * durableChat as endpoint `chat` behind uiMessageStreamHandler at /api/chat, the approval route at
 * /api/chat/approve, the wait endpoint at /api/durable/. Records what reached the server and every
 * chunk the run pushed (through a `durable.endpoint` wrapper that reads nothing itself).
 */
async function serve(options: Omit<DurableChatOptions, "messages">, durableOptions: DurableOptions = {}) {
  const durable = createDurable({ backoff: () => 0, ...durableOptions });
  const handler: DurableHandler = async (request) => {
    const { messages } = (await request.json()) as { messages: UIMessage[] };
    return durableChat({ ...options, messages });
  };
  const endpoint = durable.endpoint(handler, { id: "chat" });
  const wait = durable.waitEndpoint();
  const chat = uiMessageStreamHandler(endpoint, { waitEndpoint: wait });
  const approve = uiMessageApprovalHandler(durable);
  const requests: string[] = [];
  const server = createEndpointServer((request) => {
    const { pathname } = new URL(request.url);
    requests.push(`${request.method} ${pathname}`);
    if (pathname.startsWith("/api/durable/")) return wait(request);
    return pathname === "/api/chat/approve" ? approve(request) : chat(request);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(async () => {
    server.closeAllConnections();
    server.close();
    await durable.close();
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { durable, url: `${origin}/api/chat`, approveUrl: `${origin}/api/chat/approve`, requests };
}

/** A stock AI SDK chat (the default transport) that would send approvals itself when not streaming. */
function stockChat(api: string, messages: UIMessage[] = []) {
  const state = new RecordingState(messages);
  const errors: Error[] = [];
  const chat = new TestChat({
    id: "chat-1",
    state,
    transport: new DefaultChatTransport({ api }),
    sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
    onError: (error) => void errors.push(error),
  });
  return { chat, state, errors };
}

/** A tool whose executions are counted. */
function counterTool(options: { needsApproval?: boolean | ((input: { by: number }) => boolean) } = {}) {
  const counter = { executions: 0 };
  const increment = tool({
    description: "Adds to the counter",
    inputSchema: z.object({ by: z.number() }),
    ...(options.needsApproval === undefined ? {} : { needsApproval: options.needsApproval }),
    execute: async ({ by }: { by: number }) => {
      counter.executions += 1;
      return { value: counter.executions * by };
    },
  });
  return { counter, increment };
}

/** A model call that asks for several tools at once. */
function toolsTurn(calls: { toolCallId: string; toolName: string; input: unknown }[]): LanguageModelV4StreamPart[] {
  return [
    { type: "stream-start", warnings: [] },
    ...calls.map(
      (call): LanguageModelV4StreamPart => ({ type: "tool-call", toolCallId: call.toolCallId, toolName: call.toolName, input: JSON.stringify(call.input) }),
    ),
    {
      type: "finish",
      finishReason: { unified: "tool-calls", raw: "tool_calls" },
      usage: {
        inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
        outputTokens: { total: 5, text: 5, reasoning: undefined },
      },
    },
  ];
}

const toolParts = (message: UIMessage | undefined) => (message?.parts ?? []).filter((part): part is ToolUIPart => part.type.startsWith("tool-"));
const partTypes = (message: UIMessage | undefined): string[] => (message?.parts ?? []).map((part) => part.type);
const textOf = (message: UIMessage | undefined): string => (message?.parts ?? []).map((part) => (part.type === "text" ? part.text : "")).join("");
const toolMessages = (prompt: ReadonlyArray<{ role: string }>) => prompt.filter((message) => message.role === "tool");
/** The parts of every tool message of a prompt, however they are split into messages. */
const toolResultsOf = (prompt: ReadonlyArray<{ role: string; content: unknown }>) =>
  prompt.flatMap((message) => (message.role === "tool" ? (message.content as unknown[]) : []));

/** The approval ids of the tool parts of the chat's answer that wait for a decision. */
function requestedApprovals(state: RecordingState): string[] {
  return toolParts(state.messages[1])
    .filter((part) => part.state === "approval-requested")
    .map((part) => (part as { approval: { id: string } }).approval.id);
}

/** POSTs a raw body to the approval route. */
async function postApproval(url: string, body: string, init: RequestInit = {}) {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body, ...init });
  return { status: response.status, body: (await response.json()) as { message?: string; delivered?: number } };
}

describe("durableChat tool approvals with the stock AI SDK chat client", () => {
  it("approve: the run waits durably, the tool runs once after the decision, and the answer continues on the same connection", async () => {
    const { counter, increment } = counterTool();
    const model = scriptedModel([toolTurn("call-1", "increment", { by: 2 }), textTurn("The counter is 2.")]);
    const app = await serve({
      model,
      tools: { increment },
      toolApproval: { increment: "user-approval" },
      stopWhen: isStepCount(5),
      generateMessageId: () => "a1",
    });
    const { chat, state, errors } = stockChat(app.url);

    const sending = chat.sendMessage({ text: "Count" });
    await until(() => requestedApprovals(state).length === 1, "the approval request to show");
    const [approvalId] = requestedApprovals(state);
    expect(approvalId).toMatch(/^approval-[0-9a-f-]{36}$/);
    expect(state.status).toBe("streaming"); // the connection stays open while the run waits
    expect(counter.executions).toBe(0);
    expect(model.calls).toHaveLength(1);

    // What the approve button does: update the part locally (this sends nothing while streaming), and deliver the decision.
    await chat.addToolApprovalResponse({ id: approvalId!, approved: true });
    await expect(sendToolApproval(app.approveUrl, { approvalId: approvalId!, approved: true })).resolves.toEqual({ delivered: 1 });
    await sending;

    expect(errors).toEqual([]);
    expect(state.status).toBe("ready");
    expect(counter.executions).toBe(1);
    expect(model.calls).toHaveLength(2);
    expect(app.requests).toEqual(["POST /api/chat", "POST /api/chat/approve"]); // no second chat request
    expect(toolMessages(model.calls[1]!.prompt)).toEqual([
      { role: "tool", content: [{ type: "tool-result", toolCallId: "call-1", toolName: "increment", output: { type: "json", value: { value: 2 } } }] },
    ]);
    const final = state.messages[1]!;
    expect(final.id).toBe("a1");
    expect(partTypes(final)).toEqual(["step-start", "tool-increment", "step-start", "text"]);
    expect(final.parts[1]).toMatchObject({
      toolCallId: "call-1",
      state: "output-available",
      output: { value: 2 },
      approval: { id: approvalId, approved: true },
    });
    expect(textOf(final)).toBe("The counter is 2.");
    // Decided: a second decision finds nobody waiting.
    await expect(postApproval(app.approveUrl, JSON.stringify({ approvalId, approved: false }))).resolves.toMatchObject({ status: 404 });
  });

  it("deny: the tool never runs, the model gets streamText's execution-denied result with the reason", async () => {
    const { counter, increment } = counterTool({ needsApproval: true }); // the deprecated per-tool option
    const model = scriptedModel([toolTurn("call-1", "increment", { by: 2 }), textTurn("Understood, I did not count.")]);
    const app = await serve({ model, tools: { increment }, stopWhen: isStepCount(5) });
    const { chat, state, errors } = stockChat(app.url);

    const sending = chat.sendMessage({ text: "Count" });
    await until(() => requestedApprovals(state).length === 1, "the approval request to show");
    const [approvalId] = requestedApprovals(state);
    await chat.addToolApprovalResponse({ id: approvalId!, approved: false, reason: "Not today" });
    await sendToolApproval(app.approveUrl, { approvalId: approvalId!, approved: false, reason: "Not today" });
    await sending;

    expect(errors).toEqual([]);
    expect(counter.executions).toBe(0);
    expect(model.calls).toHaveLength(2);
    expect(toolMessages(model.calls[1]!.prompt)).toEqual([
      {
        role: "tool",
        content: [{ type: "tool-result", toolCallId: "call-1", toolName: "increment", output: { type: "execution-denied", reason: "Not today" } }],
      },
    ]);
    const final = state.messages[1]!;
    expect(partTypes(final)).toEqual(["step-start", "tool-increment", "step-start", "text"]);
    expect(final.parts[1]).toMatchObject({ toolCallId: "call-1", state: "output-denied", approval: { id: approvalId, approved: false, reason: "Not today" } });
    expect(textOf(final)).toBe("Understood, I did not count.");
  });

  it("timeout: a decision that does not come in time denies the call with a reason that says so", async () => {
    const timers = createManualTimers();
    const { counter, increment } = counterTool();
    const model = scriptedModel([toolTurn("call-1", "increment", { by: 2 }), textTurn("Nobody approved.")]);
    const app = await serve(
      { model, tools: { increment }, toolApproval: () => "user-approval", approvalTimeout: "1h", stopWhen: isStepCount(5) },
      { timers, maxInlineWait: 1_000 },
    );
    const { chat, state, errors } = stockChat(app.url);

    const sending = chat.sendMessage({ text: "Count" });
    await until(() => requestedApprovals(state).length === 1, "the approval request to show");
    const [approvalId] = requestedApprovals(state);
    await passTime(timers, 60 * 60 * 1_000);
    await sending;

    expect(errors).toEqual([]);
    expect(counter.executions).toBe(0);
    const reason = "The approval timed out: nobody decided within 1h.";
    expect(toolMessages(model.calls[1]!.prompt)).toEqual([
      { role: "tool", content: [{ type: "tool-result", toolCallId: "call-1", toolName: "increment", output: { type: "execution-denied", reason } }] },
    ]);
    expect(state.messages[1]!.parts[1]).toMatchObject({ state: "output-denied", approval: { id: approvalId, approved: false, reason } });
    expect(textOf(state.messages[1])).toBe("Nobody approved.");
    await expect(postApproval(app.approveUrl, JSON.stringify({ approvalId, approved: true }))).resolves.toMatchObject({ status: 404 });
  });

  it("decides without waiting for 'approved' and 'denied' statuses of the configuration, as streamText does", async () => {
    const { counter, increment } = counterTool();
    let deletions = 0;
    const remove = tool({
      inputSchema: z.object({ id: z.string() }),
      execute: async () => {
        deletions += 1;
        return "deleted";
      },
    });
    const model = scriptedModel([
      toolsTurn([
        { toolCallId: "call-1", toolName: "increment", input: { by: 3 } },
        { toolCallId: "call-2", toolName: "remove", input: { id: "x" } },
      ]),
      textTurn("Counted; deleting is not allowed."),
    ]);
    const app = await serve({
      model,
      tools: { increment, remove },
      toolApproval: { increment: "approved", remove: { type: "denied", reason: "Deleting is disabled" } },
      stopWhen: isStepCount(5),
    });
    const { chat, state, errors } = stockChat(app.url);

    await chat.sendMessage({ text: "Count and delete" });

    expect(errors).toEqual([]);
    expect(app.requests).toEqual(["POST /api/chat"]);
    expect(counter.executions).toBe(1);
    expect(deletions).toBe(0);
    expect(toolMessages(model.calls[1]!.prompt)).toEqual([
      {
        role: "tool",
        content: [
          { type: "tool-result", toolCallId: "call-1", toolName: "increment", output: { type: "json", value: { value: 3 } } },
          { type: "tool-result", toolCallId: "call-2", toolName: "remove", output: { type: "execution-denied", reason: "Deleting is disabled" } },
        ],
      },
    ]);
    const [counted, removed] = toolParts(state.messages[1]);
    expect(counted).toMatchObject({ state: "output-available", output: { value: 3 }, approval: { approved: true, isAutomatic: true } });
    expect(removed).toMatchObject({ state: "output-denied", approval: { approved: false, reason: "Deleting is disabled", isAutomatic: true } });
  });

  it("several approvals of one model call: every request shows before any decision; decided in any order", async () => {
    const { counter, increment } = counterTool({ needsApproval: (input) => input.by > 10 });
    const model = scriptedModel([
      toolsTurn([
        { toolCallId: "call-1", toolName: "increment", input: { by: 20 } },
        { toolCallId: "call-2", toolName: "increment", input: { by: 1 } }, // small: no approval needed
        { toolCallId: "call-3", toolName: "increment", input: { by: 30 } },
      ]),
      textTurn("Done."),
    ]);
    const app = await serve({ model, tools: { increment }, stopWhen: isStepCount(5) });
    const { chat, state, errors } = stockChat(app.url);

    const sending = chat.sendMessage({ text: "Count three times" });
    await until(() => requestedApprovals(state).length === 2, "both approval requests to show");
    expect(counter.executions).toBe(0); // nothing runs before every decision is in
    const byCall = new Map(toolParts(state.messages[1]).map((part) => [part.toolCallId, (part as { approval?: { id: string } }).approval?.id]));
    expect(byCall.get("call-2")).toBeUndefined();
    // The later call first: both waits are registered at once. The second decision arrives while
    // the run, woken by the first, replays its steps (a race the engine must not lose).
    await sendToolApproval(app.approveUrl, { approvalId: byCall.get("call-3")!, approved: false, reason: "Too much" });
    await sendToolApproval(app.approveUrl, { approvalId: byCall.get("call-1")!, approved: true });
    await sending;

    expect(errors).toEqual([]);
    expect(counter.executions).toBe(2); // call-1 and call-2, once each
    expect(toolMessages(model.calls[1]!.prompt)).toEqual([
      {
        role: "tool",
        content: [
          { type: "tool-result", toolCallId: "call-1", toolName: "increment", output: { type: "json", value: { value: 20 } } },
          { type: "tool-result", toolCallId: "call-2", toolName: "increment", output: { type: "json", value: { value: 2 } } },
          { type: "tool-result", toolCallId: "call-3", toolName: "increment", output: { type: "execution-denied", reason: "Too much" } },
        ],
      },
    ]);
    expect(toolParts(state.messages[1]).map((part) => part.state)).toEqual(["output-available", "output-available", "output-denied"]);
  });

  it("works with the full-fidelity transport: it follows the run's suspension and the answer continues", async () => {
    const { counter, increment } = counterTool();
    const model = scriptedModel([toolTurn("call-1", "increment", { by: 4 }), textTurn("Four.")]);
    const app = await serve({
      model,
      tools: { increment },
      toolApproval: { increment: { type: "user-approval", reason: "It changes the counter" } },
      stopWhen: isStepCount(5),
    });
    const state = new RecordingState();
    const errors: Error[] = [];
    const chunks: UIMessageChunk[] = [];
    const transport = createDurableChatTransport({ api: app.url, storage: false });
    const chat = new TestChat({ id: "chat-1", state, transport, onError: (error) => void errors.push(error) });
    const original = transport.sendMessages.bind(transport);
    transport.sendMessages = async (options) => {
      const stream = await original(options);
      return stream.pipeThrough(
        new TransformStream<UIMessageChunk, UIMessageChunk>({
          transform: (chunk, controller) => {
            chunks.push(chunk);
            controller.enqueue(chunk);
          },
        }),
      );
    };

    const sending = chat.sendMessage({ text: "Four" });
    await until(() => requestedApprovals(state).length === 1, "the approval request to show");
    const [approvalId] = requestedApprovals(state);
    expect(toolParts(state.messages[1])[0]).toMatchObject({ approval: { id: approvalId, requestReason: "It changes the counter" } });
    await sendToolApproval(app.approveUrl, { approvalId: approvalId!, approved: true });
    await sending;

    expect(errors).toEqual([]);
    expect(counter.executions).toBe(1);
    // The approval chunks reach the chat as the run pushed them.
    expect(chunks.filter((chunk) => chunk.type.startsWith("tool-approval") || chunk.type.startsWith("tool-output"))).toEqual([
      { type: "tool-approval-request", approvalId, toolCallId: "call-1", reason: "It changes the counter" },
      { type: "tool-approval-response", approvalId, approved: true },
      { type: "tool-output-available", toolCallId: "call-1", output: { value: 4 } },
    ]);
    expect(textOf(state.messages[1])).toBe("Four.");
    expect(app.requests.filter((request) => request.startsWith("GET /api/durable/")).length).toBeGreaterThan(0); // followed the redirect
  });
});

describe("uiMessageApprovalHandler and sendToolApproval", () => {
  it("answers 400 for bodies that are no decision, 405 for other methods, 404 for an approval nobody waits for", async () => {
    const app = await serve({ model: scriptedModel([]) });
    const bad = [
      "not json",
      "null",
      "[]",
      JSON.stringify({ approved: true }),
      JSON.stringify({ approvalId: "", approved: true }),
      JSON.stringify({ approvalId: "a".repeat(201), approved: true }),
      JSON.stringify({ approvalId: "x", approved: "yes" }),
      JSON.stringify({ approvalId: "x", approved: true, reason: 42 }),
    ];
    for (const body of bad) {
      const answer = await postApproval(app.approveUrl, body);
      expect(answer.status, body).toBe(400);
      expect(answer.body.message, body).toMatch(/approvalId|approved|reason|JSON/);
    }
    const get = await fetch(app.approveUrl);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    const unknown = await postApproval(app.approveUrl, JSON.stringify({ approvalId: "approval-unknown", approved: true }));
    expect(unknown).toEqual({ status: 404, body: { message: expect.stringContaining('No chat run is waiting for approval "approval-unknown"') } });
  });

  it("sendToolApproval rejects with a typed error that says what happened", async () => {
    const app = await serve({ model: scriptedModel([]) });
    const notWaiting = await sendToolApproval(app.approveUrl, { approvalId: "approval-gone", approved: true }).catch((error: unknown) => error);
    expect(DurableClientError.isInstance(notWaiting)).toBe(true);
    expect(notWaiting).toMatchObject({ code: "HTTP", status: 404, message: expect.stringContaining("No chat run is waiting for approval") });

    const wrongRoute = await sendToolApproval(
      `${app.url}/nowhere`,
      { approvalId: "a", approved: true },
      { fetch: async () => new Response("nope", { status: 500 }) },
    ).catch((error: unknown) => error);
    expect(wrongRoute).toMatchObject({ code: "HTTP", status: 500, message: expect.stringContaining("The server said: nope") });

    const offline = await sendToolApproval(
      app.approveUrl,
      { approvalId: "a", approved: true },
      {
        fetch: async () => {
          throw new TypeError("fetch failed");
        },
      },
    ).catch((error: unknown) => error);
    expect(offline).toMatchObject({ code: "NETWORK", message: expect.stringContaining("did not get through") });

    const aborted = new AbortController();
    aborted.abort(new Error("user left"));
    await expect(sendToolApproval(app.approveUrl, { approvalId: "a", approved: true }, { signal: aborted.signal })).rejects.toThrow("user left");

    await expect(sendToolApproval(app.approveUrl, { approvalId: "", approved: true })).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
    await expect(sendToolApproval(app.approveUrl, { approvalId: "a", approved: "yes" as never })).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
  });

  it("chatApprovalEvent builds the event durable.send delivers, and refuses a malformed decision", () => {
    expect(chatApprovalEvent({ approvalId: "approval-1", approved: false, reason: "No" })).toEqual({
      name: "durastream/chat-approval:approval-1",
      data: { approvalId: "approval-1", approved: false, reason: "No" },
    });
    expect(chatApprovalEvent({ approvalId: "approval-1", approved: true })).toEqual({
      name: "durastream/chat-approval:approval-1",
      data: { approvalId: "approval-1", approved: true },
    });
    expect(() => chatApprovalEvent({ approvalId: "approval-1" } as never)).toThrow(/"approved" must be true or false/);
    expect(() => uiMessageApprovalHandler({} as never)).toThrow(/pass the object createDurable returned/);
  });

  it("durableChat refuses malformed approval options with INVALID_OPTIONS", async () => {
    const base = { model: scriptedModel([]), messages: [userMessage("Hi")] };
    await expect(durableChat({ ...base, approvalTimeout: "soon" })).rejects.toMatchObject({
      code: "INVALID_OPTIONS",
      message: expect.stringContaining('"approvalTimeout"'),
    });
    await expect(durableChat({ ...base, approvalTimeout: -1 })).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
    await expect(durableChat({ ...base, toolApproval: "user-approval" as never })).rejects.toMatchObject({
      code: "INVALID_OPTIONS",
      message: expect.stringContaining('"toolApproval"'),
    });
  });
});

/** The chat as useChat holds it after an answer that ended with an approval request (e.g. from plain streamText, or a run that ended). */
function pendingApproval(input: unknown, approval: Record<string, unknown> = { id: "approval-1" }): UIMessage[] {
  return [
    userMessage("Count"),
    {
      id: "a1",
      role: "assistant",
      parts: [{ type: "step-start" }, { type: "tool-increment", toolCallId: "call-1", state: "approval-requested", input, approval } as never],
    },
  ];
}

describe("durableChat continuing approvals from the request's messages (no run waits for them)", () => {
  it("runs an approved tool once before the first model call and continues the same message", async () => {
    const { counter, increment } = counterTool({ needsApproval: true });
    const model = scriptedModel([textTurn("The counter is 2.")]);
    const app = await serve({ model, tools: { increment }, stopWhen: isStepCount(5) });
    const { chat, state, errors } = stockChat(app.url, pendingApproval({ by: 2 }));

    await chat.addToolApprovalResponse({ id: "approval-1", approved: true }); // sends the continuation (not streaming)
    await until(() => model.calls.length === 1 && state.status === "ready", "the continuation to finish");

    expect(errors).toEqual([]);
    expect(counter.executions).toBe(1);
    expect(app.requests).toEqual(["POST /api/chat"]);
    const results = toolResultsOf(model.calls[0]!.prompt);
    expect(results).toEqual([{ type: "tool-result", toolCallId: "call-1", toolName: "increment", output: { type: "json", value: { value: 2 } } }]);
    expect(state.messages).toHaveLength(2);
    const final = state.messages[1]!;
    expect(final.id).toBe("a1");
    expect(partTypes(final)).toEqual(["step-start", "tool-increment", "step-start", "text"]);
    expect(final.parts[1]).toMatchObject({ state: "output-available", output: { value: 2 }, approval: { id: "approval-1", approved: true } });
    expect(textOf(final)).toBe("The counter is 2.");
  });

  it("denies a denied call (the model gets execution-denied), and keeps a call the configuration denies denied", async () => {
    const { counter, increment } = counterTool();
    const model = scriptedModel([textTurn("Not counted."), textTurn("Still not counted.")]);
    const app = await serve({ model, tools: { increment }, toolApproval: { increment: "denied" }, stopWhen: isStepCount(5) });

    const denied = stockChat(app.url, pendingApproval({ by: 2 }));
    await denied.chat.addToolApprovalResponse({ id: "approval-1", approved: false, reason: "No" });
    await until(() => model.calls.length === 1 && denied.state.status === "ready", "the first continuation to finish");
    expect(denied.errors).toEqual([]);
    expect(toolResultsOf(model.calls[0]!.prompt)).toEqual([
      { type: "tool-result", toolCallId: "call-1", toolName: "increment", output: { type: "execution-denied", reason: "No" } },
    ]);
    expect(denied.state.messages[1]!.parts[1]).toMatchObject({ state: "output-denied", approval: { approved: false, reason: "No" } });

    // The client approves, but the server's configuration denies the tool: it stays denied.
    const forced = stockChat(app.url, pendingApproval({ by: 3 }));
    await forced.chat.addToolApprovalResponse({ id: "approval-1", approved: true });
    await until(() => model.calls.length === 2 && forced.state.status === "ready", "the second continuation to finish");
    expect(forced.errors).toEqual([]);
    expect(counter.executions).toBe(0);
    expect(toolResultsOf(model.calls[1]!.prompt)).toEqual([
      { type: "tool-result", toolCallId: "call-1", toolName: "increment", output: { type: "execution-denied" } },
    ]);
    expect(forced.state.messages[1]!.parts[1]).toMatchObject({ state: "output-denied" });
  });

  it("never runs client-sent input that fails the tool's schema: the model gets the error", async () => {
    const { counter, increment } = counterTool({ needsApproval: true });
    const model = scriptedModel([textTurn("That input was wrong.")]);
    const app = await serve({ model, tools: { increment }, stopWhen: isStepCount(5) });
    const { chat, state, errors } = stockChat(app.url, pendingApproval({ by: "all of it" }));

    await chat.addToolApprovalResponse({ id: "approval-1", approved: true });
    await until(() => model.calls.length === 1 && state.status === "ready", "the continuation to finish");

    expect(errors).toEqual([]);
    expect(counter.executions).toBe(0);
    const [result] = toolResultsOf(model.calls[0]!.prompt);
    expect(result).toMatchObject({
      type: "tool-result",
      toolCallId: "call-1",
      output: { type: "error-text", value: expect.stringContaining("Invalid input for tool increment") },
    });
    expect(state.messages[1]!.parts[1]).toMatchObject({ state: "output-error", errorText: expect.stringContaining("Invalid input for tool increment") });
  });

  it("with experimental_toolApprovalSecret, runs only approvals whose request the server signed", async () => {
    const secret = "approval-secret";
    const { counter, increment } = counterTool({ needsApproval: true });
    const model = scriptedModel([textTurn("Counted.")]);
    const app = await serve({ model, tools: { increment }, experimental_toolApprovalSecret: secret, stopWhen: isStepCount(5) });

    const forged = stockChat(app.url, pendingApproval({ by: 1000 })); // no signature
    await forged.chat.addToolApprovalResponse({ id: "approval-1", approved: true });
    await until(() => forged.state.status === "error", "the forged continuation to fail");
    expect(forged.errors[0]?.message).toMatch(/approvals in the request's messages were refused.*signature/i);
    expect(counter.executions).toBe(0);
    expect(model.calls).toHaveLength(0);

    const signature = await signToolApproval({ secret, approvalId: "approval-1", toolCallId: "call-1", toolName: "increment", input: { by: 2 } });
    const signed = stockChat(app.url, pendingApproval({ by: 2 }, { id: "approval-1", signature }));
    await signed.chat.addToolApprovalResponse({ id: "approval-1", approved: true });
    await until(() => model.calls.length === 1 && signed.state.status === "ready", "the signed continuation to finish");
    expect(signed.errors).toEqual([]);
    expect(counter.executions).toBe(1);
  });
});
