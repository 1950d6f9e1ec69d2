// durableChat's tool loop over loopback HTTP: tools run once, decisions replay, stores keep JSON.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createManualTimers, passTime, until } from "@durastream/testing";
import { SqliteRunStore } from "@durastream/sqlite";
import { APICallError, isStepCount, tool, type UIMessage } from "ai";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { chatView, failingTurn, messageOf, postChat, scriptedModel, serveChat, textTurn, toolTurn, userMessage } from "./chat-test-kit.fixture.js";
import type { DurableChatFinishEvent, DurableChatResult } from "./durable-chat-options.js";
import { durableChat } from "./durable-chat.js";

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function serve(...args: Parameters<typeof serveChat>): Promise<string> {
  const app = await serveChat(...args);
  closers.push(app.close);
  return app.url;
}

/** A tool whose side effect is a counter. */
function counterTool() {
  const counter = { executions: 0 };
  const increment = tool({
    description: "Adds one to the counter",
    inputSchema: z.object({ by: z.number() }),
    execute: async ({ by }) => {
      counter.executions += 1;
      return { value: counter.executions * by };
    },
  });
  return { counter, increment };
}

const toolMessages = (prompt: ReadonlyArray<{ role: string }>) => prompt.filter((message) => message.role === "tool");

describe("durableChat tools", () => {
  it("runs a tool once when the next model call fails and is retried; its output is committed once", async () => {
    const { counter, increment } = counterTool();
    const model = scriptedModel([toolTurn("call-1", "increment", { by: 2 }), failingTurn("Par"), textTurn("The counter is 2.")]);
    const finished: DurableChatFinishEvent[] = [];
    const url = await serve(async (request) => {
      const { messages } = (await request.json()) as { messages: UIMessage[] };
      return durableChat({ model, messages, tools: { increment }, stopWhen: isStepCount(5), onFinish: (event) => void finished.push(event) });
    });

    const view = chatView();
    const result = (await (await postChat(url, [userMessage("Count")], view)).json()) as DurableChatResult;

    expect(counter.executions).toBe(1);
    expect(model.calls).toHaveLength(3);
    expect(view.events.filter((event) => event.startsWith("rollback"))).toEqual(["rollback #1 retry"]);
    expect(view.committed.filter((chunk) => chunk.type === "tool-output-available")).toEqual([
      { type: "tool-output-available", toolCallId: "call-1", output: { value: 2 } },
    ]);
    // The retried call saw the same prompt as the failed one, with the stored tool result.
    expect(model.calls[2]!.prompt).toEqual(model.calls[1]!.prompt);
    expect(toolMessages(model.calls[2]!.prompt)).toEqual([
      { role: "tool", content: [{ type: "tool-result", toolCallId: "call-1", toolName: "increment", output: { type: "json", value: { value: 2 } } }] },
    ]);
    const message = await messageOf(view.committed);
    expect(message.parts.map((part) => part.type)).toEqual(["step-start", "tool-increment", "step-start", "text"]);
    expect(message.parts[1]).toMatchObject({ state: "output-available", input: { by: 2 }, output: { value: 2 } });
    expect(result.responseMessage).toEqual(message);
    expect(result.finishReason).toBe("stop");
    expect(finished).toHaveLength(1);
    expect(finished[0]!.steps.map((step) => step.toolResults.map((toolResult) => toolResult.output))).toEqual([[{ value: 2 }], []]);
  });

  it("evaluates prepareStep once per model call and stopWhen over stored steps: a retry decides the same", async () => {
    const { counter, increment } = counterTool();
    const unavailable = new APICallError({ message: "Overloaded", url: "u", requestBodyValues: {}, statusCode: 503 });
    const model = scriptedModel([toolTurn("call-1", "increment", { by: 1 }), unavailable, toolTurn("call-2", "increment", { by: 1 }), textTurn("unused")]);
    const prepared: string[] = [];
    const stopChecks: string[] = [];
    const url = await serve(async (request) => {
      const { messages } = (await request.json()) as { messages: UIMessage[] };
      return durableChat({
        model,
        messages,
        tools: { increment },
        prepareStep: ({ stepNumber, steps }) => {
          prepared.push(`${stepNumber}: ${steps.map((step) => step.toolCalls.length).join(",")}`);
          return stepNumber === 0 ? { toolChoice: "required" } : { toolChoice: { type: "tool", toolName: "increment" } };
        },
        stopWhen: ({ steps }) => {
          stopChecks.push(steps.map((step) => step.toolResults.map((toolResult) => JSON.stringify(toolResult.output)).join("+")).join(" | "));
          return steps.length === 2;
        },
      });
    });

    const view = chatView();
    const result = (await (await postChat(url, [userMessage("Twice")], view)).json()) as DurableChatResult;

    expect(model.calls).toHaveLength(3); // call 2 failed, call 3 is its retry, then stopWhen stopped
    expect(counter.executions).toBe(2);
    expect(prepared).toEqual(["0: ", "1: 1"]);
    expect(model.calls[1]!.toolChoice).toEqual({ type: "tool", toolName: "increment" });
    expect(model.calls[2]!.toolChoice).toEqual(model.calls[1]!.toolChoice);
    expect(model.calls[2]!.prompt).toEqual(model.calls[1]!.prompt);
    expect(model.calls[0]!.toolChoice).toEqual({ type: "required" });
    expect(stopChecks).toEqual(['{"value":1}', '{"value":1} | {"value":2}']);
    expect(result.finishReason).toBe("tool-calls");
  });

  it("after a suspension the re-executed run replays the stored tool and model results instead of running them", async () => {
    const timers = createManualTimers();
    const { counter, increment } = counterTool();
    const model = scriptedModel([toolTurn("call-1", "increment", { by: 3 }), failingTurn("Th"), textTurn("Three.")]);
    let executions = 0;
    const prepared: number[] = [];
    const url = await serve(
      async (request) => {
        executions += 1;
        const { messages } = (await request.json()) as { messages: UIMessage[] };
        return durableChat({
          model,
          messages,
          tools: { increment },
          stopWhen: isStepCount(3),
          prepareStep: ({ stepNumber }) => void prepared.push(stepNumber),
        });
      },
      { timers, maxInlineWait: 1_000, backoff: () => 60_000 },
    );

    const view = chatView();
    const redirects: string[] = [];
    const pending = postChat(url, [userMessage("Three")], view, { onRedirect: ({ reason }) => redirects.push(reason) });
    await until(() => redirects.length === 1, "the retry backoff to suspend the run");
    await passTime(timers, 60_000);
    const result = (await (await pending).json()) as DurableChatResult;

    expect(executions).toBe(2); // the handler ran again from the top…
    expect(counter.executions).toBe(1); // …but the tool did not
    expect(model.calls).toHaveLength(3); // and neither did the first model call
    expect(prepared).toEqual([0, 1, 0, 1]); // decided again from the stored steps
    expect(textOf(result.responseMessage)).toBe("Three.");
    const message = await messageOf(view.committed);
    expect(message.parts.filter((part) => part.type === "tool-increment")).toHaveLength(1);
    expect(result.responseMessage).toEqual(message);
  });

  it("keeps every step result through the SQLite store (JSON-safe), with a retried call and a tool", async () => {
    const directory = mkdtempSync(join(tmpdir(), "durable-chat-"));
    const store = new SqliteRunStore({ path: join(directory, "runs.db") });
    closers.push(() => rmSync(directory, { recursive: true, force: true }));
    const { counter, increment } = counterTool();
    const model = scriptedModel([toolTurn("call-1", "increment", { by: 5 }), failingTurn("Fi"), textTurn("Five.")]);
    const finished: DurableChatFinishEvent[] = [];
    const url = await serve(
      async (request) => {
        const { messages } = (await request.json()) as { messages: UIMessage[] };
        return durableChat({ model, messages, tools: { increment }, stopWhen: isStepCount(3), onFinish: (event) => void finished.push(event) });
      },
      { store },
    );
    const view = chatView();
    const result = (await (await postChat(url, [userMessage("Five")], view)).json()) as DurableChatResult;
    expect(counter.executions).toBe(1);
    expect(textOf(result.responseMessage)).toBe("Five.");
    expect(result.responseMessage).toEqual(await messageOf(view.committed));
    expect(finished[0]!.steps[0]!.response.timestamp).toBeInstanceOf(Date);
    expect(finished[0]!.steps[0]!.toolCalls).toEqual([expect.objectContaining({ toolCallId: "call-1", input: { by: 5 } })]);
    expect(finished[0]!.messages.map((message) => message.role)).toEqual(["user", "assistant"]);
  });

  it("sends a tool's error to the model as a committed tool-output-error, and stops at a client-side tool", async () => {
    const failing = tool({
      inputSchema: z.object({}),
      execute: async (): Promise<string> => {
        throw new Error("disk full");
      },
    });
    const confirm = tool({ inputSchema: z.object({ question: z.string() }) }); // no execute: the client answers
    const model = scriptedModel([toolTurn("call-1", "failing", {}), toolTurn("call-2", "confirm", { question: "Go?" })]);
    const url = await serve(async (request) => {
      const { messages } = (await request.json()) as { messages: UIMessage[] };
      return durableChat({ model, messages, tools: { failing, confirm }, stopWhen: isStepCount(5) });
    });
    const view = chatView();
    const result = (await (await postChat(url, [userMessage("Try")], view)).json()) as DurableChatResult;
    expect(model.calls).toHaveLength(2);
    expect(view.committed.filter((chunk) => chunk.type === "tool-output-error")).toEqual([
      { type: "tool-output-error", toolCallId: "call-1", errorText: "disk full" },
    ]);
    expect(toolMessages(model.calls[1]!.prompt)).toEqual([
      { role: "tool", content: [expect.objectContaining({ type: "tool-result", toolCallId: "call-1", output: { type: "error-text", value: "disk full" } })] },
    ]);
    expect(result.responseMessage.parts.at(-1)).toMatchObject({ type: "tool-confirm", state: "input-available", input: { question: "Go?" } });
    expect(result.finishReason).toBe("tool-calls");
  });

  it("does not run a tool whose input does not match its schema; the model gets the validation error", async () => {
    const { counter, increment } = counterTool();
    const model = scriptedModel([toolTurn("call-1", "increment", { by: "two" }), textTurn("Sorry.")]);
    const url = await serve(async (request) => {
      const { messages } = (await request.json()) as { messages: UIMessage[] };
      return durableChat({ model, messages, tools: { increment }, stopWhen: isStepCount(5) });
    });
    const view = chatView();
    const result = (await (await postChat(url, [userMessage("Count")], view)).json()) as DurableChatResult;
    expect(counter.executions).toBe(0);
    expect(model.calls).toHaveLength(2); // the loop went on, as in streamText, so the model can correct itself
    expect(toolMessages(model.calls[1]!.prompt)).toEqual([
      {
        role: "tool",
        content: [
          expect.objectContaining({ toolCallId: "call-1", output: { type: "error-text", value: expect.stringContaining("Invalid input for tool increment") } }),
        ],
      },
    ]);
    // The AI SDK shows an invalid call as a dynamic tool part with the error.
    expect(result.responseMessage.parts.map((part) => part.type)).toEqual(["step-start", "dynamic-tool", "step-start", "text"]);
    expect(result.responseMessage.parts[1]).toMatchObject({ state: "output-error", input: { by: "two" } });
  });
});

function textOf(message: UIMessage): string {
  return message.parts.map((part) => (part.type === "text" ? part.text : "")).join("");
}
