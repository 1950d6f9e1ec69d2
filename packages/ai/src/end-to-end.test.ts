// End to end over real loopback HTTP: createDurable + createEndpointServer + the mock model on one
// side, fetchWithStream on the other.
import type { AddressInfo } from "node:net";
import { fetchWithStream, type FetchWithStreamOptions } from "@durastream/client";
import { createDurable, step, type DurableHandler, type EndpointOptions } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { afterEach, describe, expect, it, vi } from "vitest";
import { lastUserText } from "./last-user-text.js";
import { createMockModel } from "./mock-model.js";
import { pipeModel } from "./pipe-model.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function serve(handler: DurableHandler, endpointOptions: EndpointOptions = {}): Promise<string> {
  const durable = createDurable({ backoff: () => 0 });
  const server = createEndpointServer(durable.endpoint(handler, endpointOptions));
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
    durable.close();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/chat`;
}

/** What a UI keeps: committed chunks, uncommitted chunks per step, and a log of events. */
function committedView() {
  const committed: unknown[] = [];
  const pending = new Map<string | null, unknown[]>();
  const events: string[] = [];
  const callbacks: FetchWithStreamOptions = {
    onData: ({ data, hashedStepId }) => {
      pending.set(hashedStepId, [...(pending.get(hashedStepId) ?? []), data]);
      events.push(`data ${JSON.stringify(data)}`);
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
    onStreamError: (error) => events.push(`error ${error.code}`),
  };
  return { committed, pending, events, callbacks };
}

const post = (prompt: string): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ prompt }),
});

const promptOf = (text: string) => [{ role: "user" as const, content: [{ type: "text" as const, text }] }];

describe("pipeModel in a durable endpoint over loopback HTTP", () => {
  it("rolls back the failing attempt's chunks and commits the retry's text exactly once", async () => {
    const model = createMockModel({
      text: (prompt) => `You said ${prompt} and this is the answer.`,
      failures: [{ call: 1, afterTokens: 3, message: "Connection reset by the provider" }],
    });
    const url = await serve(async (request) => {
      const { prompt } = (await request.json()) as { prompt: string };
      const answer = await step.run("answer", ({ signal }) => pipeModel(model, { call: { prompt: promptOf(prompt) }, signal }));
      return Response.json(answer);
    });

    const view = committedView();
    const response = await fetchWithStream(url, { ...view.callbacks, fetchOpts: post("hello") });

    const text = "You said hello and this is the answer.";
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      text,
      finishReason: "stop",
      usage: { inputTokens: 1, outputTokens: 8, totalTokens: 9 },
    });
    expect(model.calls).toBe(2);
    expect(view.events).toEqual([
      'data "You "',
      'data "said "',
      'data "hello "',
      "rollback #1 retry",
      ...["You ", "said ", "hello ", "and ", "this ", "is ", "the ", "answer."].map((word) => `data ${JSON.stringify(word)}`),
      "commit",
    ]);
    expect(view.committed.join("")).toBe(text);
    expect(view.pending.size).toBe(0);
  });

  it("answers a prompt read from the request body with lastUserText (v3 mock, 8-character chunks)", async () => {
    const model = createMockModel({ specificationVersion: "v3", chunking: 8 });
    const url = await serve(async (request) => {
      const body = (await request.json()) as { messages: unknown };
      const prompt = lastUserText(body);
      return step.run("answer", ({ signal }) => pipeModel(model, { call: { prompt: promptOf(prompt) }, signal }));
    });
    const view = committedView();
    const response = await fetchWithStream(url, {
      ...view.callbacks,
      fetchOpts: { method: "POST", body: JSON.stringify({ messages: [{ role: "user", content: "Is this durable?" }] }) },
    });
    const answer = (await response.json()) as { text: string; finishReason: string };
    expect(answer.finishReason).toBe("stop");
    expect(answer.text).toContain('"Is this durable?"');
    expect(view.committed.join("")).toBe(answer.text);
    expect(view.committed.every((chunk) => typeof chunk === "string" && Array.from(chunk).length <= 8)).toBe(true);
  });

  it("with cancelOnDisconnect, a client abort aborts the model call and the mock stops", async () => {
    const model = createMockModel({ text: "word ".repeat(200), tokenDelayMs: 20 });
    const signals: AbortSignal[] = [];
    let produced = 0;
    const doStream = model.doStream.bind(model);
    model.doStream = async (options) => {
      if (options.abortSignal !== undefined) signals.push(options.abortSignal);
      const result = await doStream(options);
      // Counts the parts the mock produces; cancelling this stream cancels the mock's.
      const counter = new TransformStream<typeof result.stream extends ReadableStream<infer Part> ? Part : never>({
        transform(part, controller) {
          produced += 1;
          controller.enqueue(part);
        },
      });
      return { ...result, stream: result.stream.pipeThrough(counter) };
    };
    let settled: PromiseSettledResult<unknown> | undefined;
    const url = await serve(
      async () => {
        const answer = step.run("answer", ({ signal }) => pipeModel(model, { call: { prompt: promptOf("go on") }, signal }));
        answer.then(
          (value) => (settled = { status: "fulfilled", value }),
          (reason: unknown) => (settled = { status: "rejected", reason }),
        );
        return Response.json(await answer);
      },
      { cancelOnDisconnect: true },
    );

    const controller = new AbortController();
    const view = committedView();
    let received = 0;
    const request = fetchWithStream(url, {
      ...view.callbacks,
      fetchOpts: { ...post("go on"), signal: controller.signal },
      onData: () => {
        received += 1;
        if (received === 3) controller.abort();
      },
    });
    await expect(request).rejects.toMatchObject({ name: "AbortError" });

    await vi.waitFor(() => expect(signals[0]?.aborted).toBe(true), { timeout: 5_000 });
    expect(signals[0]?.reason).toMatchObject({ code: "RUN_CANCELLED" });
    await vi.waitFor(() => expect(settled?.status).toBe("rejected"), { timeout: 5_000 });
    const producedAtCancel = produced;
    expect(producedAtCancel).toBeLessThan(20);
    await new Promise((resolve) => setTimeout(resolve, 150)); // 7 token delays
    expect(produced).toBe(producedAtCancel); // the mock stopped producing
    expect(model.calls).toBe(1); // a cancelled run retries no step
  });
});
