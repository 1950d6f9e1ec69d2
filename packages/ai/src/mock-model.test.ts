import type {
  LanguageModelV2,
  LanguageModelV2StreamPart,
  LanguageModelV3,
  LanguageModelV3StreamPart,
  LanguageModelV4,
  LanguageModelV4StreamPart,
} from "@ai-sdk/provider";
import { afterEach, describe, expect, expectTypeOf, it, vi } from "vitest";
import { DurableAiError } from "./errors.js";
import type { ModelStreamPart } from "./language-model.js";
import { createMockModel, splitIntoDeltas, type MockLanguageModel } from "./mock-model.js";

// Untyped on purpose: a plain text prompt fits the call options of every spec version.
const call = (text: string) => ({
  prompt: [
    { role: "system" as const, content: "Be brief." },
    { role: "user" as const, content: [{ type: "text" as const, text }] },
  ],
});

async function readAll<Part>(stream: ReadableStream<Part>): Promise<Part[]> {
  const parts: Part[] = [];
  for await (const part of stream as unknown as AsyncIterable<Part>) parts.push(part);
  return parts;
}

function deltasOf(parts: readonly ModelStreamPart[]): string[] {
  return parts.flatMap((part) => (part.type === "text-delta" ? [part.delta] : []));
}

afterEach(() => {
  vi.useRealTimers();
});

describe("splitIntoDeltas", () => {
  it("cuts words with their trailing whitespace, and the pieces always join back to the text", () => {
    expect(splitIntoDeltas("Hello  brave\nnew world ", "word")).toEqual(["Hello  ", "brave\n", "new ", "world "]);
    expect(splitIntoDeltas("  leading", "word")).toEqual(["  leading"]);
    expect(splitIntoDeltas("   ", "word")).toEqual(["   "]);
    expect(splitIntoDeltas("", "word")).toEqual([]);
  });

  it("cuts by code point for chars and numbers, never splitting a surrogate pair", () => {
    expect(splitIntoDeltas("a🎉b", "char")).toEqual(["a", "🎉", "b"]);
    expect(splitIntoDeltas("héllo 🎉!", 3)).toEqual(["hél", "lo ", "🎉!"]);
  });

  it("joins back to the text for any chunking", () => {
    const text = " Durable  streams, 中文 and 🎉 emoji.\n";
    for (const chunking of ["word", "char", 1, 2, 5, 100] as const) {
      expect(splitIntoDeltas(text, chunking).join("")).toBe(text);
    }
  });
});

describe("createMockModel", () => {
  it("reports provider, model id, spec version and supported URLs", () => {
    const model = createMockModel();
    expect(model).toMatchObject({ specificationVersion: "v4", provider: "durastream-mock", modelId: "mock-1", supportedUrls: {} });
    const custom = createMockModel({ specificationVersion: "v2", provider: "acme", modelId: "fast" });
    expect(custom).toMatchObject({ specificationVersion: "v2", provider: "acme", modelId: "fast" });
  });

  it("streams the v2 parts: stream-start, response-metadata, text-start, deltas, text-end, finish", async () => {
    const model = createMockModel({ text: "one two three", specificationVersion: "v2" });
    const { stream } = await model.doStream(call("count to three"));
    const parts = await readAll(stream);
    expect(parts).toEqual([
      { type: "stream-start", warnings: [] },
      { type: "response-metadata", id: "mock-response-1", modelId: "mock-1" },
      { type: "text-start", id: "text-1" },
      { type: "text-delta", id: "text-1", delta: "one " },
      { type: "text-delta", id: "text-1", delta: "two " },
      { type: "text-delta", id: "text-1", delta: "three" },
      { type: "text-end", id: "text-1" },
      { type: "finish", finishReason: "stop", usage: { inputTokens: 5, outputTokens: 3, totalTokens: 8 } },
    ]);
  });

  it.each(["v3", "v4"] as const)("streams %s finish parts with the object finish reason and nested usage", async (version) => {
    // Typed as v3: the v4 shapes of these parts are the same.
    const model = createMockModel({ text: "one two", specificationVersion: version }) as MockLanguageModel<"v3">;
    const parts = await readAll((await model.doStream(call("hi"))).stream);
    expect(parts.map((part) => part.type)).toEqual(["stream-start", "response-metadata", "text-start", "text-delta", "text-delta", "text-end", "finish"]);
    expect(parts.at(-1)).toEqual({
      type: "finish",
      finishReason: { unified: "stop", raw: "stop" },
      usage: {
        inputTokens: { total: 3, noCache: 3, cacheRead: undefined, cacheWrite: undefined },
        outputTokens: { total: 2, text: 2, reasoning: undefined },
      },
    });
  });

  it("has the provider types of the version it reports (checked by tsc)", async () => {
    const v2 = createMockModel({ specificationVersion: "v2" });
    const v3 = createMockModel({ specificationVersion: "v3" });
    const v4 = createMockModel();
    expectTypeOf(v2).toExtend<LanguageModelV2>();
    expectTypeOf(v3).toExtend<LanguageModelV3>();
    expectTypeOf(v4).toExtend<LanguageModelV4>();
    expectTypeOf(v2.calls).toEqualTypeOf<number>();
    expectTypeOf<MockLanguageModel>().toExtend<LanguageModelV4>(); // the default is the newest spec
    const v2Parts: LanguageModelV2StreamPart[] = await readAll((await v2.doStream({ prompt: [] })).stream);
    const v3Parts: LanguageModelV3StreamPart[] = await readAll((await v3.doStream({ prompt: [] })).stream);
    const v4Parts: LanguageModelV4StreamPart[] = await readAll((await v4.doStream({ prompt: [] })).stream);
    expect(v2.specificationVersion).toBe("v2");
    expect(v3.specificationVersion).toBe("v3");
    expect(v4.specificationVersion).toBe("v4");
    // Shape assertions at run time for every part the mock emits.
    for (const [version, parts] of [
      ["v2", v2Parts],
      ["v3", v3Parts],
      ["v4", v4Parts],
    ] as const) {
      for (const part of parts as ModelStreamPart[]) {
        switch (part.type) {
          case "stream-start":
            expect(part.warnings).toEqual([]);
            break;
          case "response-metadata":
            expect(typeof part.id).toBe("string");
            break;
          case "text-start":
          case "text-end":
            expect(typeof part.id).toBe("string");
            break;
          case "text-delta":
            expect(typeof part.id).toBe("string");
            expect(typeof part.delta).toBe("string");
            break;
          case "finish":
            if (version === "v2") {
              expect(typeof part.finishReason).toBe("string");
              expect(typeof part.usage.inputTokens).toBe("number");
            } else {
              expect(part.finishReason).toMatchObject({ unified: expect.any(String) });
              expect(part.usage.inputTokens).toMatchObject({ total: expect.any(Number) });
              expect(part.usage.outputTokens).toMatchObject({ total: expect.any(Number) });
            }
            break;
          default:
            throw new Error(`unexpected part ${part.type}`);
        }
      }
    }
  });

  it("chunks by word (default), char or a number of characters", async () => {
    const text = "Hi there, 🎉 friend";
    const deltas = async (chunking?: "word" | "char" | number) =>
      deltasOf(await readAll((await createMockModel({ text, chunking }).doStream(call("x"))).stream));
    expect(await deltas()).toEqual(["Hi ", "there, ", "🎉 ", "friend"]);
    expect(await deltas("char")).toHaveLength(Array.from(text).length);
    expect(await deltas(4)).toEqual(["Hi t", "here", ", 🎉 ", "frie", "nd"]);
  });

  it("answers with a function of the last user message, or a deterministic reply quoting the prompt", async () => {
    const echo = createMockModel({ text: (prompt) => `Echo: ${prompt}` });
    expect(deltasOf(await readAll((await echo.doStream(call("ping"))).stream)).join("")).toBe("Echo: ping");
    const first = deltasOf(await readAll((await createMockModel().doStream(call("What is durability?"))).stream)).join("");
    const second = deltasOf(await readAll((await createMockModel().doStream(call("What is durability?"))).stream)).join("");
    expect(first).toBe(second);
    expect(first).toContain('"What is durability?"');
    expect(deltasOf(await readAll((await createMockModel().doStream({ prompt: [] })).stream)).join("")).toMatch(/^Hello!/);
  });

  it("doGenerate returns the whole text with that version's finish reason and usage", async () => {
    const v2 = createMockModel({ text: "all at once", specificationVersion: "v2" });
    await expect(v2.doGenerate(call("go"))).resolves.toEqual({
      content: [{ type: "text", text: "all at once" }],
      finishReason: "stop",
      usage: { inputTokens: 3, outputTokens: 3, totalTokens: 6 },
      warnings: [],
      response: { id: "mock-generate", modelId: "mock-1" },
    });
    const v3 = createMockModel({ text: "all at once", specificationVersion: "v3" });
    const result = await v3.doGenerate(call("go"));
    expect(result.finishReason).toEqual({ unified: "stop", raw: "stop" });
    expect(result.usage.outputTokens.total).toBe(3);
    expect(v2.calls + v3.calls).toBe(0); // only doStream calls count
  });

  it("counts doStream calls and fails the chosen call after K tokens, with an error part and an error finish", async () => {
    const model = createMockModel({
      text: "a b c d e",
      failures: [{ call: 2, afterTokens: 2, message: "Upstream reset" }],
    });
    expect(model.calls).toBe(0);
    const first = await readAll((await model.doStream(call("x"))).stream);
    expect(deltasOf(first).join("")).toBe("a b c d e");
    const second = await readAll((await model.doStream(call("x"))).stream);
    expect(model.calls).toBe(2);
    expect(deltasOf(second)).toEqual(["a ", "b "]);
    const error = second.find((part) => part.type === "error");
    expect(error?.type === "error" && error.error).toMatchObject({ name: "DurableAiError", code: "MOCK_FAILURE", message: "Upstream reset" });
    expect(second.at(-1)).toMatchObject({ type: "finish", finishReason: { unified: "error" }, usage: { outputTokens: { total: 2 } } });
    expect(second.some((part) => part.type === "text-end")).toBe(false);
    const third = await readAll((await model.doStream(call("x"))).stream);
    expect(deltasOf(third).join("")).toBe("a b c d e");
  });

  it("fails at once by rejecting doStream (like a failed HTTP call), and after the last delta when K is larger", async () => {
    const model = createMockModel({ text: "short", failures: [{ call: 1 }, { call: 2, afterTokens: 10 }] });
    const rejected = model.doStream(call("x"));
    await expect(rejected).rejects.toSatisfy(DurableAiError.isInstance);
    await expect(rejected).rejects.toThrow(/call 1 after 0 tokens/);
    expect(model.calls).toBe(1);
    const parts = await readAll((await model.doStream(call("x"))).stream);
    expect(deltasOf(parts)).toEqual(["short"]);
    expect(parts.map((part) => part.type).slice(-2)).toEqual(["error", "finish"]);
  });

  it("waits tokenDelayMs before each delta and produces nothing before it is read", async () => {
    vi.useFakeTimers();
    const model = createMockModel({ text: "a b c", tokenDelayMs: 100 });
    const { stream } = await model.doStream(call("x"));
    expect(vi.getTimerCount()).toBe(0);
    const reader = stream.getReader();
    for (const type of ["stream-start", "response-metadata", "text-start"]) {
      expect((await reader.read()).value?.type).toBe(type);
    }
    const delta = reader.read();
    await vi.advanceTimersByTimeAsync(0); // pull runs after a microtask
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(99);
    let settled = false;
    void delta.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((await delta).value).toMatchObject({ type: "text-delta", delta: "a " });
    reader.releaseLock();
  });

  it("stops producing and clears its timer when its stream is cancelled", async () => {
    vi.useFakeTimers();
    const model = createMockModel({ text: "a b c d", tokenDelayMs: 1_000 });
    const { stream } = await model.doStream(call("x"));
    const reader = stream.getReader();
    await reader.read();
    await reader.read();
    await reader.read();
    const pending = reader.read();
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(1);
    await reader.cancel("no longer needed");
    expect(vi.getTimerCount()).toBe(0);
    expect(await pending).toEqual({ done: true, value: undefined });
  });

  it("errors its stream with the abort reason when abortSignal aborts, and stops producing", async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const model = createMockModel({ text: "a b c d", tokenDelayMs: 1_000 });
    const { stream } = await model.doStream({ ...call("x"), abortSignal: controller.signal });
    const reader = stream.getReader();
    await reader.read();
    const pending = reader.read(); // response-metadata comes at once
    await pending;
    await reader.read();
    const delta = reader.read();
    await vi.advanceTimersByTimeAsync(0); // pull runs after a microtask
    expect(vi.getTimerCount()).toBe(1);
    const reason = new Error("client went away");
    controller.abort(reason);
    await expect(delta).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("rejects doStream and doGenerate when the signal is already aborted (and counts the call)", async () => {
    const model = createMockModel();
    const controller = new AbortController();
    controller.abort(new Error("too late"));
    await expect(model.doStream({ prompt: [], abortSignal: controller.signal })).rejects.toThrow("too late");
    await expect(model.doGenerate({ prompt: [], abortSignal: controller.signal })).rejects.toThrow("too late");
    expect(model.calls).toBe(1);
  });

  it("rejects bad options with INVALID_OPTIONS and a message that says what to pass", () => {
    const bad = [
      { chunking: 0 },
      { chunking: 1.5 },
      { chunking: "line" },
      { tokenDelayMs: -1 },
      { specificationVersion: "v1" },
      { failures: [{ call: 0 }] },
      { failures: [{ call: 1, afterTokens: -2 }] },
      { failures: {} },
      { text: 42 },
    ];
    for (const options of bad) {
      expect(() => createMockModel(options as never)).toThrow(
        expect.objectContaining({ name: "InvalidOptionsError", code: "INVALID_OPTIONS", message: expect.stringMatching(/^createMockModel: /) }),
      );
    }
  });
});
