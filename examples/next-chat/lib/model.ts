import { createMockModel, type AnyLanguageModel } from "@durastream/ai";
import { NonRetriableError } from "@durastream/server";

/** How many words the model streams before an injected failure. */
const FAIL_AFTER_TOKENS = 6;

/**
 * The model for one step attempt.
 *
 * - Default: the deterministic mock model of `@durastream/ai` (no API key, no network).
 * - With `OPENAI_API_KEY` set (and `pnpm add @ai-sdk/openai` done in this folder): OpenAI's
 *   `OPENAI_MODEL` (default `gpt-4o-mini`). Any other AI SDK provider works the same way.
 *
 * `failThisAttempt` makes the answer break off after a few words, so the step is rolled back and
 * retried — the client drops the words it showed dimmed and the retry streams the answer again.
 */
export async function chatModel({ failThisAttempt }: { failThisAttempt: boolean }): Promise<{ model: AnyLanguageModel; name: string }> {
  if (process.env.OPENAI_API_KEY) {
    const model = await openAiModel(process.env.OPENAI_MODEL ?? "gpt-4o-mini");
    return { model: failThisAttempt ? failAfterTokens(model, FAIL_AFTER_TOKENS) : model, name: `openai/${model.modelId}` };
  }
  const model = createMockModel({
    text: mockAnswer,
    tokenDelayMs: Number(process.env.MOCK_TOKEN_DELAY_MS ?? 60),
    failures: failThisAttempt ? [{ call: 1, afterTokens: FAIL_AFTER_TOKENS, message: "The model connection dropped (injected failure)." }] : [],
  });
  return { model, name: `${model.provider}/${model.modelId}` };
}

/** The mock's answer: deterministic, so the test can look for it. */
export function mockAnswer(question: string): string {
  const quoted = question.length > 80 ? `${question.slice(0, 77)}...` : question;
  return (
    `You asked: "${quoted}". This answer is streamed word by word from a durable step. ` +
    "Words shown dimmed are not committed yet; when the step commits they turn solid, and if the step fails " +
    "they are rolled back and streamed again by the retry, so every word ends up exactly once."
  );
}

/**
 * Loads `@ai-sdk/openai` at run time, only when a key is configured, so the example builds and runs
 * without it installed. (In your own app, just `import { openai } from "@ai-sdk/openai"`.)
 */
async function openAiModel(modelId: string): Promise<AnyLanguageModel> {
  const specifier = "@ai-sdk/openai";
  try {
    const { openai } = (await import(/* webpackIgnore: true */ /* turbopackIgnore: true */ specifier)) as {
      openai: (modelId: string) => AnyLanguageModel;
    };
    return openai(modelId);
  } catch (error) {
    // Retrying will not help: fail the step at once.
    throw new NonRetriableError('OPENAI_API_KEY is set but "@ai-sdk/openai" could not be loaded: run `pnpm add @ai-sdk/openai` in examples/next-chat.', {
      cause: error,
    });
  }
}

/** Wraps a real model so its stream errors after `count` text deltas (the mock has this built in). */
function failAfterTokens(model: AnyLanguageModel, count: number): AnyLanguageModel {
  return new Proxy(model, {
    get(target, key) {
      if (key !== "doStream") return Reflect.get(target, key, target);
      return async (options: Parameters<AnyLanguageModel["doStream"]>[0]) => {
        const result = await (target.doStream as (options: unknown) => Promise<{ stream: ReadableStream<{ type: string }> }>)(options);
        let deltas = 0;
        const stream = result.stream.pipeThrough(
          new TransformStream<{ type: string }, { type: string }>({
            transform(part, controller) {
              if (part.type === "text-delta" && ++deltas > count) {
                controller.enqueue({ type: "error", error: new Error("The model connection dropped (injected failure).") } as { type: string });
                controller.terminate();
                return;
              }
              controller.enqueue(part);
            },
          }),
        );
        return { ...result, stream };
      };
    },
  });
}
