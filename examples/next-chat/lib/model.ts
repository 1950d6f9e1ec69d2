import { openai } from "@ai-sdk/openai";
import { createMockModel, lastUserText } from "@durastream/ai";
import { type LanguageModel, type LanguageModelMiddleware, wrapLanguageModel } from "ai";
import type { Weather } from "./tools";

/** How many words an answer streams before the injected failure ("Fail once"). */
export const FAIL_AFTER_WORDS = 6;
const FAILURE_MESSAGE = "The model connection dropped (injected failure).";

type StreamResult = Awaited<ReturnType<NonNullable<LanguageModelMiddleware["wrapStream"]>>>;
type StreamPart = StreamResult["stream"] extends ReadableStream<infer Part> ? Part : never;
type Prompt = Parameters<NonNullable<LanguageModelMiddleware["wrapStream"]>>[0]["params"]["prompt"];

/**
 * The model of one chat request.
 *
 * - With `OPENAI_API_KEY` set: OpenAI's `OPENAI_MODEL` (default `gpt-4o-mini`). Any other AI SDK
 *   provider model works the same way.
 * - Otherwise a scripted mock, no key and no network: its first call asks for the weather tool
 *   (the city is taken from the question), its second streams an answer made of the tool's result
 *   word by word (`createMockModel` from `@durastream/ai`, `MOCK_TOKEN_DELAY_MS` apart, default 60).
 *
 * `failOnce` makes the first model call that streams text break off after {@link FAIL_AFTER_WORDS}
 * words, as a dropped provider connection would: `durableChat` rolls that call back (the client
 * removes its text) and retries it; the tool is not run again.
 */
export function chatModel({ failOnce }: { failOnce: boolean }): LanguageModel {
  if (process.env.OPENAI_API_KEY) {
    const model = openai(process.env.OPENAI_MODEL ?? "gpt-4o-mini");
    return failOnce ? wrapLanguageModel({ model, middleware: failFirstTextAfter(FAIL_AFTER_WORDS) }) : model;
  }
  return mockWeatherModel({ failOnce, tokenDelayMs: Number(process.env.MOCK_TOKEN_DELAY_MS ?? 60) });
}

/** The mock's answer once the weather tool answered: deterministic, so the test can look for it. */
export function mockAnswer({ city, temperatureC, conditions }: Weather): string {
  return (
    `In ${city} it is ${conditions} and ${temperatureC} °C. The weather tool ran once: its result is stored with the run, ` +
    "so a retried model call or a reload never runs it again. This answer streams word by word from a durable step; " +
    "dimmed words are not committed yet, and if the model call fails they are rolled back and streamed again, so every word ends up exactly once."
  );
}

/** The city the mock asks the weather of: "… in Paris?" → "Paris"; "Paris" when the question names none. */
function cityIn(question: string): string {
  const match = /\b(?:in|at|for)\s+(\p{Lu}[\p{L}'-]*(?:\s+\p{Lu}[\p{L}'-]*)*)/u.exec(question);
  return match?.[1] ?? "Paris";
}

function mockWeatherModel({ failOnce, tokenDelayMs }: { failOnce: boolean; tokenDelayMs: number }): LanguageModel {
  let answer = "";
  // Streams `answer` word by word; with failOnce its first call fails after a few words.
  const textModel = createMockModel({
    text: () => answer,
    tokenDelayMs,
    modelId: "mock-weather",
    failures: failOnce ? [{ call: 1, afterTokens: FAIL_AFTER_WORDS, message: FAILURE_MESSAGE }] : [],
  });
  return wrapLanguageModel({
    model: textModel,
    middleware: {
      async wrapStream({ doStream, params }) {
        const weather = weatherResultIn(params.prompt);
        if (weather === undefined) return weatherToolCall(cityIn(lastUserText(params.prompt)), tokenDelayMs, params.abortSignal);
        answer = mockAnswer(weather);
        return doStream();
      },
    },
  });
}

/** The weather tool's result in this turn (after the last user message), if the tool ran. */
function weatherResultIn(prompt: Prompt): Weather | undefined {
  for (let index = prompt.length - 1; index >= 0; index -= 1) {
    const message = prompt[index]!;
    if (message.role === "user") return undefined;
    if (message.role !== "tool") continue;
    for (const part of message.content) {
      if (part.type === "tool-result" && part.toolName === "weather" && part.output.type === "json") return part.output.value as unknown as Weather;
    }
  }
  return undefined;
}

/** A model call that asks for the weather tool, after a short "thinking" pause. */
function weatherToolCall(city: string, delayMs: number, signal: AbortSignal | undefined): StreamResult {
  const parts: StreamPart[] = [
    { type: "stream-start", warnings: [] },
    { type: "tool-call", toolCallId: `call-${crypto.randomUUID()}`, toolName: "weather", input: JSON.stringify({ city }) },
    {
      type: "finish",
      finishReason: { unified: "tool-calls", raw: "tool_calls" },
      usage: {
        inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
        outputTokens: { total: 5, text: 5, reasoning: undefined },
      },
    },
  ];
  const stream = new ReadableStream<StreamPart>({
    async start(controller) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, delayMs * 3);
        signal?.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(signal.reason);
        });
      });
      for (const part of parts) controller.enqueue(part);
      controller.close();
    },
  });
  return { stream };
}

/**
 * For a real provider: the first model call that streams more than `words` text deltas gets an
 * error part instead of the rest, as when the provider's connection drops.
 */
function failFirstTextAfter(words: number): LanguageModelMiddleware {
  let failed = false;
  return {
    async wrapStream({ doStream }) {
      const result = await doStream();
      if (failed) return result;
      let deltas = 0;
      const stream = result.stream.pipeThrough(
        new TransformStream<StreamPart, StreamPart>({
          transform(part, controller) {
            if (!failed && part.type === "text-delta" && ++deltas > words) {
              failed = true;
              controller.enqueue({ type: "error", error: new Error(FAILURE_MESSAGE) });
              controller.terminate();
              return;
            }
            controller.enqueue(part);
          },
        }),
      );
      return { ...result, stream };
    },
  };
}
