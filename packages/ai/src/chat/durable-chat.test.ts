// durableChat in a real durable endpoint over loopback HTTP, read with fetchWithStream.
import { APICallError, type UIMessage } from "ai";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createMockModel } from "../mock-model.js";
import { chatView, failingTurn, messageOf, postChat, scriptedModel, serveChat, textTurn, userMessage } from "./chat-test-kit.fixture.js";
import type { DurableChatFinishEvent, DurableChatResult } from "./durable-chat-options.js";
import { durableChat } from "./durable-chat.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function serve(...args: Parameters<typeof serveChat>): Promise<string> {
  const app = await serveChat(...args);
  closers.push(app.close);
  return app.url;
}

const textOf = (message: UIMessage): string => message.parts.map((part) => (part.type === "text" ? part.text : "")).join("");

describe("durableChat", () => {
  it("streams a plain answer as a valid UI message stream, and returns the final message", async () => {
    const text = "Hello there, durable world.";
    const model = createMockModel({ text });
    const url = await serve(async (request) => {
      const { messages } = (await request.json()) as { messages: UIMessage[] };
      return durableChat({ model, system: "Be brief.", messages, generateMessageId: () => "answer-1" });
    });

    const view = chatView();
    const response = await postChat(url, [userMessage("Hi")], view);
    const result = (await response.json()) as DurableChatResult;

    expect(response.status).toBe(200);
    expect(view.committed.map((chunk) => chunk.type)).toEqual([
      "start",
      "start-step",
      "text-start",
      ...Array(4).fill("text-delta"),
      "text-end",
      "finish-step",
      "finish",
    ]);
    expect(view.committed[0]).toEqual({ type: "start", messageId: "answer-1" });
    expect(view.committed.at(-1)).toEqual({ type: "finish", finishReason: "stop" });
    const message = await messageOf(view.committed);
    expect(message).toMatchObject({ id: "answer-1", role: "assistant" });
    expect(message.parts.map((part) => part.type)).toEqual(["step-start", "text"]);
    expect(textOf(message)).toBe(text);
    expect(result.responseMessage).toEqual(message);
    expect(result).toMatchObject({ finishReason: "stop", failedAttempts: 0, usage: { outputTokens: 4 } });
    expect(view.pending.size).toBe(0);
    expect(model.calls).toBe(1);
  });

  it("rolls back an answer that fails with a provider error part, commits the retry once, and calls onFinish once", async () => {
    const text = "The complete and correct answer.";
    const model = createMockModel({ text, failures: [{ call: 1, afterTokens: 2, message: "Upstream reset" }] });
    const finished: DurableChatFinishEvent[] = [];
    const url = await serve(async (request) => {
      const { messages } = (await request.json()) as { messages: UIMessage[] };
      return durableChat({ model, messages, onFinish: (event) => void finished.push(event) });
    });

    const view = chatView();
    const user = userMessage("Tell me");
    const result = (await (await postChat(url, [user], view)).json()) as DurableChatResult;

    expect(model.calls).toBe(2);
    const rollback = view.events.indexOf("rollback #1 retry");
    expect(view.events.slice(0, rollback)).toContain('text-delta "The "'); // the failed attempt streamed, then…
    expect(view.events.slice(0, rollback)).not.toContain("error"); // …no error chunk reached the client
    expect(view.events.filter((event) => event.startsWith("rollback"))).toEqual(["rollback #1 retry"]);
    const message = await messageOf(view.committed);
    expect(textOf(message)).toBe(text); // exactly once
    expect(view.committed.filter((chunk) => chunk.type === "text-start")).toHaveLength(1);

    expect(finished).toHaveLength(1);
    expect(finished[0]!.messages).toEqual([user, message]);
    expect(finished[0]!.responseMessage).toEqual(message);
    expect(finished[0]!).toMatchObject({ isContinuation: false, finishReason: "stop", failedAttempts: 1 });
    expect(finished[0]!.failedAttemptsUsage.outputTokens).toBe(2); // the failed attempt's usage, counted apart
    expect(finished[0]!.usage.outputTokens).toBe(5);
    expect(finished[0]!.steps.map((step) => step.text)).toEqual([text]);
    expect(result.failedAttempts).toBe(1);
    expect(result.responseMessage).toEqual(message);
  });

  it("fails without a retry on a non-retryable APICallError (400)", async () => {
    const badRequest = new APICallError({
      message: "Invalid model parameters",
      url: "https://api.example.com/v1/chat",
      requestBodyValues: {},
      statusCode: 400,
    });
    const model = scriptedModel([badRequest, textTurn("never")]);
    const url = await serve(async (request) => {
      const { messages } = (await request.json()) as { messages: UIMessage[] };
      return durableChat({ model, messages });
    });

    const view = chatView();
    const response = await postChat(url, [userMessage("Hi")], view);

    expect(model.calls).toHaveLength(1);
    expect(response.status).toBe(500);
    expect(await response.text()).toMatch(/^Step "llm:0" failed after 1 attempt: The model call failed and cannot be retried: Invalid model parameters/);
    expect(view.events).toEqual(["start", "commit", "rollback #1"]); // doStream threw: nothing streamed
  });

  it("retries a retryable APICallError (503) thrown before streaming and an error part without a status code", async () => {
    const unavailable = new APICallError({ message: "Overloaded", url: "u", requestBodyValues: {}, statusCode: 503 });
    const model = scriptedModel([unavailable, failingTurn("Hal", { message: "internal" }), textTurn("Whole answer.")]);
    const url = await serve(async (request) => {
      const { messages } = (await request.json()) as { messages: UIMessage[] };
      return durableChat({ model, messages });
    });
    const view = chatView();
    const result = (await (await postChat(url, [userMessage("Hi")], view)).json()) as DurableChatResult;
    expect(model.calls).toHaveLength(3);
    expect(view.events.filter((event) => event.startsWith("rollback"))).toEqual(["rollback #1 retry", "rollback #2 retry"]);
    expect(textOf(await messageOf(view.committed))).toBe("Whole answer.");
    expect(result.failedAttempts).toBe(2);
  });

  it("passes the step attempt's signal to the model: a cancelled run aborts the model call and retries nothing", async () => {
    const model = createMockModel({ text: "word ".repeat(1_000), tokenDelayMs: 20 }); // 20 s unless cancelled
    const signals: AbortSignal[] = [];
    const doStream = model.doStream.bind(model);
    model.doStream = (options) => {
      if (options.abortSignal !== undefined) signals.push(options.abortSignal);
      return doStream(options);
    };
    let settled: unknown;
    const url = await serve(
      async (request) => {
        const { messages } = (await request.json()) as { messages: UIMessage[] };
        return durableChat({ model, messages }).catch((error: unknown) => {
          settled = error;
          throw error;
        });
      },
      {},
      { cancelOnDisconnect: true },
    );
    const controller = new AbortController();
    const view = chatView();
    let deltas = 0;
    const request = postChat(url, [userMessage("Go on")], view, {
      fetchOpts: { method: "POST", body: JSON.stringify({ messages: [userMessage("Go on")] }), signal: controller.signal },
      onData: ({ data }) => {
        if ((data as { type: string }).type === "text-delta" && ++deltas === 3) controller.abort();
      },
    });
    await expect(request).rejects.toMatchObject({ name: "AbortError" });
    await vi.waitFor(() => expect(signals[0]?.aborted).toBe(true), { timeout: 5_000 });
    await vi.waitFor(() => expect(settled).toMatchObject({ code: "RUN_CANCELLED" }), { timeout: 5_000 });
    expect(model.calls).toBe(1);
  });

  it("continues the last assistant message (same id) when the request ends with one", async () => {
    const model = createMockModel({ text: "More." });
    const url = await serve(async (request) => {
      const { messages } = (await request.json()) as { messages: UIMessage[] };
      return durableChat({ model, messages });
    });
    const earlier: UIMessage = { id: "a1", role: "assistant", parts: [{ type: "step-start" }, { type: "text", text: "Some.", state: "done" }] };
    const view = chatView();
    const result = (await (await postChat(url, [userMessage("Hi"), earlier], view)).json()) as DurableChatResult;
    expect(view.committed[0]).toEqual({ type: "start", messageId: "a1" });
    expect(result.responseMessage.id).toBe("a1");
    expect(result.responseMessage.parts.filter((part) => part.type === "text").map((part) => part.text)).toEqual(["Some.", "More."]);
  });
});
