import type {
  LanguageModelV2,
  LanguageModelV2StreamPart,
  LanguageModelV3,
  LanguageModelV3StreamPart,
  LanguageModelV4,
  LanguageModelV4StreamPart,
} from "@ai-sdk/provider";
import { InvalidOptionsError, stream } from "@durastream/server";
import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi, type MockInstance } from "vitest";
import { DurableAiError } from "./errors.js";
import type { AnyLanguageModel, ModelCallOptions } from "./language-model.js";
import { createMockModel } from "./mock-model.js";
import { pipeModel, type PipeModelOptions } from "./pipe-model.js";

const call: ModelCallOptions = { prompt: [{ role: "user", content: [{ type: "text", text: "Weather in Paris?" }] }] };

interface Handle {
  /** The options each doStream call received. */
  readonly calls: ModelCallOptions[];
  /** Resolves with the reason when the consumer cancels the stream. */
  readonly cancelled: Promise<unknown>;
}

/** A stream of hand-made parts; `hold: true` leaves it open after the last part (until cancelled). */
function partStream<Part>(parts: readonly Part[], onCancel: (reason: unknown) => void, hold = false): ReadableStream<Part> {
  let index = 0;
  return new ReadableStream<Part>(
    {
      pull(controller) {
        const part = parts[index++];
        if (part !== undefined) controller.enqueue(part);
        else if (!hold) controller.close();
      },
      cancel: onCancel,
    },
    { highWaterMark: 0 },
  );
}

function handle(): Handle & { cancel: (reason: unknown) => void } {
  let cancel!: (reason: unknown) => void;
  const cancelled = new Promise<unknown>((resolve) => (cancel = resolve));
  return { calls: [], cancelled, cancel };
}

function modelV2(parts: readonly LanguageModelV2StreamPart[], hold = false): LanguageModelV2 & Handle {
  const h = handle();
  return {
    ...h,
    specificationVersion: "v2",
    provider: "hand-made",
    modelId: "v2",
    supportedUrls: {},
    doGenerate: () => Promise.reject(new Error("not used")),
    doStream: async (options) => {
      h.calls.push(options);
      return { stream: partStream(parts, h.cancel, hold) };
    },
  };
}

function modelV3(parts: readonly LanguageModelV3StreamPart[], hold = false): LanguageModelV3 & Handle {
  const h = handle();
  return {
    ...h,
    specificationVersion: "v3",
    provider: "hand-made",
    modelId: "v3",
    supportedUrls: {},
    doGenerate: () => Promise.reject(new Error("not used")),
    doStream: async (options) => {
      h.calls.push(options);
      return { stream: partStream(parts, h.cancel, hold) };
    },
  };
}

function modelV4(parts: readonly LanguageModelV4StreamPart[], hold = false): LanguageModelV4 & Handle {
  const h = handle();
  return {
    ...h,
    specificationVersion: "v4",
    provider: "hand-made",
    modelId: "v4",
    supportedUrls: {},
    doGenerate: () => Promise.reject(new Error("not used")),
    doStream: async (options) => {
      h.calls.push(options);
      return { stream: partStream(parts, h.cancel, hold) };
    },
  };
}

// The same answer in each version's shapes: reasoning, text, a streamed tool input and a tool call.
const partsV2: LanguageModelV2StreamPart[] = [
  { type: "stream-start", warnings: [] },
  { type: "response-metadata", id: "resp-1", modelId: "v2", timestamp: new Date(0) },
  { type: "reasoning-start", id: "r" },
  { type: "reasoning-delta", id: "r", delta: "The user wants " },
  { type: "reasoning-delta", id: "r", delta: "the weather." },
  { type: "reasoning-end", id: "r" },
  { type: "text-start", id: "t" },
  { type: "text-delta", id: "t", delta: "Let me " },
  { type: "text-delta", id: "t", delta: "" },
  { type: "text-delta", id: "t", delta: "check." },
  { type: "text-end", id: "t" },
  { type: "tool-input-start", id: "call-1", toolName: "weather" },
  { type: "tool-input-delta", id: "call-1", delta: '{"city":' },
  { type: "tool-input-delta", id: "call-1", delta: '"Paris"}' },
  { type: "tool-input-end", id: "call-1" },
  { type: "tool-call", toolCallId: "call-1", toolName: "weather", input: '{"city":"Paris"}' },
  { type: "raw", rawValue: { anything: true } },
  { type: "finish", finishReason: "tool-calls", usage: { inputTokens: 5, outputTokens: 7, totalTokens: 12, reasoningTokens: 3 } },
];
const usageV3 = {
  inputTokens: { total: 5, noCache: 5, cacheRead: 0, cacheWrite: undefined },
  outputTokens: { total: 7, text: 4, reasoning: 3 },
};
const partsV3: LanguageModelV3StreamPart[] = [
  ...(partsV2.filter((part) => part.type !== "finish" && part.type !== "stream-start") as LanguageModelV3StreamPart[]),
  { type: "finish", finishReason: { unified: "tool-calls", raw: "tool_use" }, usage: usageV3 },
];
const partsV4: LanguageModelV4StreamPart[] = [
  { type: "stream-start", warnings: [{ type: "unsupported", feature: "temperature" }] },
  { type: "ping" },
  ...(partsV2.filter((part) => part.type !== "finish" && part.type !== "stream-start") as LanguageModelV4StreamPart[]),
  { type: "finish", finishReason: { unified: "tool-calls", raw: "tool_use" }, usage: usageV3 },
];

const models = {
  v2: () => modelV2(partsV2),
  v3: () => modelV3(partsV3),
  v4: () => modelV4(partsV4),
};

let push: MockInstance<(data: unknown) => void>;
beforeEach(() => {
  push = vi.spyOn(stream, "push").mockImplementation(() => {});
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe("pipeModel", () => {
  it("takes the call options of doStream of any supported model (checked by tsc)", () => {
    expectTypeOf<PipeModelOptions["call"]>().toEqualTypeOf<Parameters<AnyLanguageModel["doStream"]>[0]>();
    expectTypeOf(pipeModel).parameter(0).toEqualTypeOf<AnyLanguageModel>();
  });

  it.each(Object.entries(models))("%s: pushes text deltas only by default and resolves with the normalized result", async (_, make) => {
    const model = make();
    const result = await pipeModel(model, { call });
    expect(push.mock.calls.map(([data]) => data)).toEqual(["Let me ", "check."]);
    expect(result).toEqual({
      text: "Let me check.",
      finishReason: "tool-calls",
      usage: { inputTokens: 5, outputTokens: 7, totalTokens: 12 },
    });
    expect(model.calls[0]?.prompt).toBe(call.prompt);
  });

  it.each(Object.entries(models))("%s: also pushes reasoning and tool calls (input parsed) when asked", async (_, make) => {
    const result = await pipeModel(make(), { call, include: { reasoning: true, toolCalls: true } });
    expect(push.mock.calls.map(([data]) => data)).toEqual([
      { type: "reasoning", text: "The user wants " },
      { type: "reasoning", text: "the weather." },
      "Let me ",
      "check.",
      { type: "tool-call", toolCallId: "call-1", toolName: "weather", input: { city: "Paris" } },
    ]);
    expect(result.text).toBe("Let me check.");
  });

  it("includes only what is asked for", async () => {
    await pipeModel(models.v3(), { call, include: { toolCalls: true } });
    expect(push.mock.calls.map(([data]) => data)).toEqual([
      "Let me ",
      "check.",
      { type: "tool-call", toolCallId: "call-1", toolName: "weather", input: { city: "Paris" } },
    ]);
  });

  it("keeps a tool input that is not JSON as its string, and an empty one as {}", async () => {
    const model = modelV2([
      { type: "tool-call", toolCallId: "a", toolName: "shell", input: "ls -la" },
      { type: "tool-call", toolCallId: "b", toolName: "now", input: "" },
    ]);
    await pipeModel(model, { call, include: { toolCalls: true } });
    expect(push.mock.calls.map(([data]) => data)).toEqual([
      { type: "tool-call", toolCallId: "a", toolName: "shell", input: "ls -la" },
      { type: "tool-call", toolCallId: "b", toolName: "now", input: {} },
    ]);
  });

  it("normalizes usage: computes a missing total, leaves unknown counts out", async () => {
    const v2 = modelV2([{ type: "finish", finishReason: "stop", usage: { inputTokens: 4, outputTokens: 6, totalTokens: undefined } }]);
    expect((await pipeModel(v2, { call })).usage).toEqual({ inputTokens: 4, outputTokens: 6, totalTokens: 10 });
    const v3 = modelV3([
      {
        type: "finish",
        finishReason: { unified: "length", raw: undefined },
        usage: {
          inputTokens: { total: undefined, noCache: undefined, cacheRead: undefined, cacheWrite: undefined },
          outputTokens: { total: 9, text: 9, reasoning: undefined },
        },
      },
    ]);
    expect(await pipeModel(v3, { call })).toEqual({ text: "", finishReason: "length", usage: { outputTokens: 9 } });
    const v4 = modelV4([
      {
        type: "finish",
        finishReason: { unified: "interrupted", raw: "user_cancel" },
        usage: {
          inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
          outputTokens: { total: 2, text: 2, reasoning: undefined },
          raw: { total_tokens: 3 },
        },
      },
    ]);
    expect((await pipeModel(v4, { call })).finishReason).toBe("interrupted");
  });

  it('resolves with finish reason "unknown" and no usage when the stream has no finish part', async () => {
    const model = modelV2([{ type: "text-delta", id: "t", delta: "cut short" }]);
    expect(await pipeModel(model, { call })).toEqual({ text: "cut short", finishReason: "unknown", usage: {} });
  });

  it.each(
    Object.entries({
      v2: (error: unknown) =>
        modelV2(
          [
            { type: "text-delta", id: "t", delta: "partial " },
            { type: "error", error },
          ],
          true,
        ),
      v3: (error: unknown) =>
        modelV3(
          [
            { type: "text-delta", id: "t", delta: "partial " },
            { type: "error", error },
          ],
          true,
        ),
      v4: (error: unknown) =>
        modelV4(
          [
            { type: "text-delta", id: "t", delta: "partial " },
            { type: "error", error },
          ],
          true,
        ),
    }),
  )("%s: an error part rejects with its error and cancels the model's stream", async (_, make) => {
    const error = new Error("overloaded");
    const model = make(error);
    await expect(pipeModel(model, { call })).rejects.toBe(error);
    expect(await model.cancelled).toBe(error);
    expect(push.mock.calls.map(([data]) => data)).toEqual(["partial "]);
  });

  it("wraps an error part that is not an Error in a DurableAiError naming its message", async () => {
    const detail = { type: "overloaded_error", message: "Overloaded" };
    const rejection = pipeModel(modelV2([{ type: "error", error: detail }]), { call });
    await expect(rejection).rejects.toMatchObject({
      name: "DurableAiError",
      code: "MODEL_STREAM_ERROR",
      message: "The model's stream sent an error: Overloaded",
      cause: detail,
    });
    await expect(pipeModel(modelV2([{ type: "error", error: { code: 529 } }]), { call })).rejects.toThrow('The model\'s stream sent an error: {"code":529}');
  });

  it("rejects when doStream throws, and when the model's stream errors", async () => {
    const failing = { ...createMockModel(), doStream: () => Promise.reject(new Error("HTTP 500")) };
    await expect(pipeModel(failing, { call })).rejects.toThrow("HTTP 500");
    const broken = {
      ...modelV2([]),
      doStream: async () => ({
        stream: new ReadableStream<LanguageModelV2StreamPart>({
          start(controller) {
            controller.enqueue({ type: "text-delta", id: "t", delta: "half" });
            controller.error(new TypeError("terminated"));
          },
        }),
      }),
    } satisfies LanguageModelV2;
    await expect(pipeModel(broken, { call })).rejects.toThrow("terminated");
  });

  it("passes signal to doStream; on abort stops reading, cancels the stream and rejects with the reason", async () => {
    const model = modelV3([{ type: "text-delta", id: "t", delta: "first " }], true);
    const controller = new AbortController();
    const piping = pipeModel(model, { call, signal: controller.signal });
    await vi.waitFor(() => expect(push).toHaveBeenCalledWith("first "));
    expect(model.calls[0]?.abortSignal?.aborted).toBe(false);
    const reason = new Error("run cancelled");
    controller.abort(reason);
    await expect(piping).rejects.toBe(reason);
    expect(await model.cancelled).toBe(reason);
    expect(model.calls[0]?.abortSignal?.aborted).toBe(true);
  });

  it("honours an abortSignal in the call options together with signal", async () => {
    const model = modelV4([], true);
    const stepController = new AbortController();
    const callController = new AbortController();
    const piping = pipeModel(model, { call: { ...call, abortSignal: callController.signal }, signal: stepController.signal });
    await vi.waitFor(() => expect(model.calls).toHaveLength(1));
    callController.abort(new Error("caller gave up"));
    await expect(piping).rejects.toThrow("caller gave up");
    expect(model.calls[0]?.abortSignal?.aborted).toBe(true);
  });

  it("gives up at the abort when doStream ignores the signal, and cancels the stream that comes later", async () => {
    let resolveStart!: () => void;
    const started = new Promise<void>((resolve) => (resolveStart = resolve));
    const inner = modelV2([{ type: "text-delta", id: "t", delta: "late" }], true);
    const slow: LanguageModelV2 = {
      ...inner,
      doStream: async (options) => {
        await started; // ignores options.abortSignal
        return inner.doStream(options);
      },
    };
    const controller = new AbortController();
    const piping = pipeModel(slow, { call, signal: controller.signal });
    controller.abort(new Error("stop waiting"));
    await expect(piping).rejects.toThrow("stop waiting");
    resolveStart();
    await expect(inner.cancelled).resolves.toMatchObject({ message: "stop waiting" });
    expect(push).not.toHaveBeenCalled();
  });

  it("does not call the model when the signal is already aborted", async () => {
    const model = modelV2([]);
    const controller = new AbortController();
    controller.abort(new Error("already gone"));
    await expect(pipeModel(model, { call, signal: controller.signal })).rejects.toThrow("already gone");
    expect(model.calls).toHaveLength(0);
  });

  it("rejects bad arguments with INVALID_OPTIONS", async () => {
    await expect(pipeModel({} as never, { call })).rejects.toSatisfy(
      (error: unknown) => InvalidOptionsError.isInstance(error) && !DurableAiError.isInstance(error) && error.code === "INVALID_OPTIONS",
    );
    await expect(pipeModel(createMockModel(), {} as never)).rejects.toThrow(/options\.call/);
  });

  it("streams the mock model with every spec version", async () => {
    for (const specificationVersion of ["v2", "v3", "v4"] as const) {
      push.mockClear();
      const model = createMockModel({ text: "one two three", specificationVersion });
      expect(await pipeModel(model, { call })).toEqual({
        text: "one two three",
        finishReason: "stop",
        usage: { inputTokens: 3, outputTokens: 3, totalTokens: 6 },
      });
      expect(push.mock.calls.map(([data]) => data)).toEqual(["one ", "two ", "three"]);
    }
  });

  it("outside a durable endpoint it still resolves with the result (stream.push does nothing)", async () => {
    vi.restoreAllMocks();
    expect((await pipeModel(createMockModel({ text: "quiet" }), { call })).text).toBe("quiet");
  });
});
