// Test helpers for durableChat (imported by tests only): a scripted v4 model, a loopback app with
// its wait endpoint, and a client view that keeps committed and uncommitted chunks.
import type { AddressInfo } from "node:net";
import type { LanguageModelV4, LanguageModelV4CallOptions, LanguageModelV4StreamPart } from "@ai-sdk/provider";
import { fetchWithStream, type FetchWithStreamOptions } from "@durastream/client";
import { createDurable, type DurableHandler, type DurableOptions, type EndpointOptions } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { readUIMessageStream, type UIMessage, type UIMessageChunk } from "ai";

/** One scripted `doStream` call: its stream parts, or an error `doStream` rejects with. */
export type Turn = LanguageModelV4StreamPart[] | Error;

const usage = (output: number) => ({
  inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: output, text: output, reasoning: undefined },
});

/** The parts of a text answer, one delta per word. */
export function textTurn(text: string, id = "t"): LanguageModelV4StreamPart[] {
  const words = text.match(/\S+\s*/g) ?? [];
  return [
    { type: "stream-start", warnings: [] },
    { type: "text-start", id },
    ...words.map((delta): LanguageModelV4StreamPart => ({ type: "text-delta", id, delta })),
    { type: "text-end", id },
    { type: "finish", finishReason: { unified: "stop", raw: "stop" }, usage: usage(words.length) },
  ];
}

/** The parts of a call that streams `before` and then fails with a provider error part. */
export function failingTurn(before: string, error: unknown = new Error("upstream reset"), id = "t"): LanguageModelV4StreamPart[] {
  return [
    { type: "stream-start", warnings: [] },
    { type: "text-start", id },
    { type: "text-delta", id, delta: before },
    { type: "error", error },
    { type: "finish", finishReason: { unified: "error", raw: "error" }, usage: usage(1) },
  ];
}

/** The parts of a call that asks for one tool. */
export function toolTurn(toolCallId: string, toolName: string, input: unknown): LanguageModelV4StreamPart[] {
  return [
    { type: "stream-start", warnings: [] },
    { type: "tool-call", toolCallId, toolName, input: JSON.stringify(input) },
    { type: "finish", finishReason: { unified: "tool-calls", raw: "tool_calls" }, usage: usage(5) },
  ];
}

/** A `LanguageModelV4` that plays `turns` in order and records each call's options. */
export function scriptedModel(turns: readonly Turn[]): LanguageModelV4 & { readonly calls: LanguageModelV4CallOptions[] } {
  const calls: LanguageModelV4CallOptions[] = [];
  const model = {
    specificationVersion: "v4" as const,
    provider: "scripted",
    modelId: "scripted-1",
    supportedUrls: {},
    calls,
    async doGenerate(): Promise<never> {
      throw new Error("scriptedModel only streams");
    },
    async doStream(options: LanguageModelV4CallOptions) {
      calls.push(options);
      const turn = turns[calls.length - 1];
      if (turn === undefined) throw new Error(`scriptedModel: no turn ${calls.length}`);
      if (turn instanceof Error) throw turn;
      const stream = new ReadableStream<LanguageModelV4StreamPart>({
        start(controller) {
          for (const part of turn) controller.enqueue(part);
          controller.close();
        },
      });
      return { stream };
    },
  };
  return model as LanguageModelV4 & { readonly calls: LanguageModelV4CallOptions[] };
}

/** Serves `handler` as endpoint `chat` on loopback, with the wait endpoint at /api/durable/. */
export async function serveChat(handler: DurableHandler, options: DurableOptions = {}, endpointOptions: EndpointOptions = {}) {
  const durable = createDurable({ backoff: () => 0, ...options });
  const endpoint = durable.endpoint(handler, { id: "chat", ...endpointOptions });
  const proxy = durable.waitEndpoint();
  const server = createEndpointServer((request) => (new URL(request.url).pathname.startsWith("/api/durable/") ? proxy(request) : endpoint(request)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    server.close();
    await durable.close();
  };
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/chat`, close };
}

/** A user message as useChat sends it. */
export function userMessage(text: string, id = "u1"): UIMessage {
  return { id, role: "user", parts: [{ type: "text", text }] };
}

/** What a UI keeps: the committed chunks in order, uncommitted ones per step, and an event log. */
export function chatView() {
  const committed: UIMessageChunk[] = [];
  const pending = new Map<string | null, UIMessageChunk[]>();
  const events: string[] = [];
  const callbacks: FetchWithStreamOptions = {
    onData: ({ data, hashedStepId }) => {
      const chunk = data as UIMessageChunk;
      pending.set(hashedStepId, [...(pending.get(hashedStepId) ?? []), chunk]);
      events.push(chunk.type === "text-delta" ? `${chunk.type} ${JSON.stringify(chunk.delta)}` : chunk.type);
    },
    onCommit: ({ hashedStepId }) => {
      committed.push(...(pending.get(hashedStepId) ?? []));
      pending.delete(hashedStepId);
      events.push("commit");
    },
    onRollback: ({ hashedStepId, attempt, willRetry }) => {
      pending.delete(hashedStepId);
      events.push(`rollback #${attempt}${willRetry ? " retry" : ""}`);
    },
  };
  return { committed, pending, events, callbacks };
}

/** POSTs `{ messages }` with fetchWithStream into `view`; `extra` overrides callbacks and `fetchOpts`. */
export function postChat(url: string, messages: UIMessage[], view: ReturnType<typeof chatView>, extra: FetchWithStreamOptions = {}) {
  return fetchWithStream(url, {
    ...view.callbacks,
    fetchOpts: { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ messages }) },
    ...extra,
  });
}

/** Folds chunks into a message with the AI SDK's reader (what useChat does); rejects on an invalid sequence. */
export async function messageOf(chunks: readonly UIMessageChunk[]): Promise<UIMessage> {
  let message: UIMessage | undefined;
  const stream = new ReadableStream<UIMessageChunk>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  for await (const snapshot of readUIMessageStream({ stream, terminateOnError: true })) message = snapshot;
  if (message === undefined) throw new Error("no message");
  return message;
}
