import type {
  LanguageModelV2,
  LanguageModelV2StreamPart,
  LanguageModelV2Usage,
  LanguageModelV3,
  LanguageModelV3StreamPart,
  LanguageModelV3Usage,
  LanguageModelV4,
  LanguageModelV4StreamPart,
  LanguageModelV4Usage,
} from "@ai-sdk/provider";
import { InvalidOptionsError } from "@durastream/server";
import { DurableAiError } from "./errors.js";
import type { ModelCallOptions, ModelStreamPart } from "./language-model.js";
import { lastUserText } from "./last-user-text.js";

/**
 * The provider spec versions the mock can report: `"v2"`, `"v3"` or `"v4"`.
 *
 * @example
 * ```ts
 * const version: MockSpecificationVersion = "v3";
 * const model = createMockModel({ specificationVersion: version });
 * ```
 */
export type MockSpecificationVersion = "v2" | "v3" | "v4";

/**
 * One injected failure of the mock model: doStream call number `call` (1-based, per model
 * instance) fails after `afterTokens` deltas (default 0: `doStream` itself rejects, like a provider
 * whose HTTP call failed) with `message`.
 *
 * @example
 * ```ts
 * const failure: MockFailure = { call: 1, afterTokens: 3, message: "Upstream connection reset" };
 * ```
 */
export interface MockFailure {
  readonly call: number;
  readonly afterTokens?: number;
  readonly message?: string;
}

/**
 * Options of {@link createMockModel}.
 *
 * @example
 * ```ts
 * const options: MockModelOptions = {
 *   text: (prompt) => `Echo: ${prompt}`,
 *   chunking: "word",
 *   tokenDelayMs: 30,
 *   failures: [{ call: 1, afterTokens: 3 }],
 * };
 * ```
 */
export interface MockModelOptions<Version extends MockSpecificationVersion = MockSpecificationVersion> {
  /**
   * The answer: fixed text, or a function of the last user message's text. Default: a
   * deterministic generated reply that quotes the prompt.
   */
  text?: string | ((prompt: string) => string);
  /**
   * How the answer is cut into deltas: `"word"` (default, words with their trailing whitespace),
   * `"char"` (one Unicode code point each), or a number of characters (code points).
   */
  chunking?: "word" | "char" | number;
  /** Delay before each delta, ms (default 0). Uses setTimeout; honours the abort signal. */
  tokenDelayMs?: number;
  /**
   * Failure injection, by doStream call number on this model instance (1-based): fail that call
   * after `afterTokens` deltas (default 0 = at once: `doStream` rejects) with `message`. A failure
   * after some deltas is sent as an `error` stream part, followed by a `finish` part with the
   * finish reason `"error"`, as providers do (after the last delta when the answer is shorter).
   */
  failures?: ReadonlyArray<MockFailure>;
  /** The spec version the mock reports and whose stream parts it emits: "v4" (default, the newest; `ai` 7 warns on v2), "v3", "v2". */
  specificationVersion?: Version;
  /** Provider name. Default `"durastream-mock"`. */
  provider?: string;
  /** Model id. Default `"mock-1"`. */
  modelId?: string;
}

type ModelOfVersion<Version extends MockSpecificationVersion> = Version extends "v2"
  ? LanguageModelV2
  : Version extends "v3"
    ? LanguageModelV3
    : LanguageModelV4;

/**
 * The deterministic mock language model: a real `@ai-sdk/provider` `LanguageModelV4` (or `V3` /
 * `V2`, as chosen with `specificationVersion`), plus the number of `doStream` calls so far.
 *
 * @example
 * ```ts
 * const model: MockLanguageModel = createMockModel({ text: "Hello there" });
 * await model.doStream({ prompt: [] });
 * console.log(model.calls); // 1
 * ```
 */
export type MockLanguageModel<Version extends MockSpecificationVersion = "v4"> = ModelOfVersion<Version> & {
  /** doStream calls so far. */
  readonly calls: number;
};

const wordPattern = /\s*\S+\s*/g;

/** Cuts `text` into deltas; their concatenation is always `text`. Internal (not exported by the package). */
export function splitIntoDeltas(text: string, chunking: "word" | "char" | number): string[] {
  if (text === "") return [];
  if (chunking === "word") {
    const words = text.match(wordPattern);
    return words === null ? [text] : words;
  }
  const characters = Array.from(text);
  const size = chunking === "char" ? 1 : chunking;
  const deltas: string[] = [];
  for (let index = 0; index < characters.length; index += size) {
    deltas.push(characters.slice(index, index + size).join(""));
  }
  return deltas;
}

function promptWordCount(prompt: unknown): number {
  if (!Array.isArray(prompt)) return 0;
  let count = 0;
  const countWords = (text: string): void => {
    count += text.split(/\s+/).filter((word) => word !== "").length;
  };
  for (const message of prompt) {
    if (typeof message !== "object" || message === null) continue;
    const content = (message as { content?: unknown }).content;
    if (typeof content === "string") countWords(content);
    else if (Array.isArray(content)) {
      for (const part of content) {
        const text = (part as { text?: unknown } | null)?.text;
        if (typeof text === "string") countWords(text);
      }
    }
  }
  return count;
}

function defaultReply(prompt: string): string {
  const trimmed = prompt.trim().replace(/\s+/g, " ");
  if (trimmed === "") {
    return "Hello! I am the Durastream mock model. Ask me anything and I will stream a deterministic answer, one word at a time.";
  }
  const quoted = Array.from(trimmed).length > 120 ? `${Array.from(trimmed).slice(0, 119).join("")}…` : trimmed;
  return (
    `You asked: "${quoted}". I am the Durastream mock model, so here is a deterministic answer: ` +
    "every word arrives as its own chunk, and when a step fails and is retried, the chunks of the " +
    "failed attempt are rolled back before the retry streams them again."
  );
}

type FinishReasonOf = "stop" | "error";

function usageV2(input: number, output: number): LanguageModelV2Usage {
  return { inputTokens: input, outputTokens: output, totalTokens: input + output };
}

function usageV3(input: number, output: number): LanguageModelV3Usage & LanguageModelV4Usage {
  return {
    inputTokens: { total: input, noCache: input, cacheRead: undefined, cacheWrite: undefined },
    outputTokens: { total: output, text: output, reasoning: undefined },
  };
}

/** The version-specific parts; the rest (text-start/-delta/-end, error) are the same in v2–v4. */
function finishPart(version: MockSpecificationVersion, reason: FinishReasonOf, input: number, output: number): ModelStreamPart {
  if (version === "v2") {
    return { type: "finish", finishReason: reason, usage: usageV2(input, output) } satisfies LanguageModelV2StreamPart;
  }
  const part = {
    type: "finish",
    finishReason: { unified: reason, raw: reason },
    usage: usageV3(input, output),
  } as const;
  return version === "v3" ? (part satisfies LanguageModelV3StreamPart) : (part satisfies LanguageModelV4StreamPart);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("This operation was aborted", "AbortError");
}

function validate(options: MockModelOptions): void {
  const invalid = (message: string): never => {
    throw new InvalidOptionsError(message);
  };
  const { text, chunking, tokenDelayMs, failures, specificationVersion } = options;
  if (text !== undefined && typeof text !== "string" && typeof text !== "function") {
    invalid("createMockModel: text must be a string or a function (prompt: string) => string.");
  }
  if (chunking !== undefined && chunking !== "word" && chunking !== "char" && !(typeof chunking === "number" && Number.isInteger(chunking) && chunking > 0)) {
    invalid(`createMockModel: chunking must be "word", "char" or a positive integer number of characters, not ${String(chunking)}.`);
  }
  if (tokenDelayMs !== undefined && !(typeof tokenDelayMs === "number" && Number.isFinite(tokenDelayMs) && tokenDelayMs >= 0)) {
    invalid(`createMockModel: tokenDelayMs must be a number of milliseconds ≥ 0, not ${String(tokenDelayMs)}.`);
  }
  if (specificationVersion !== undefined && !["v2", "v3", "v4"].includes(specificationVersion)) {
    invalid(`createMockModel: specificationVersion must be "v2", "v3" or "v4", not ${String(specificationVersion)}.`);
  }
  if (failures !== undefined) {
    if (!Array.isArray(failures)) invalid("createMockModel: failures must be an array like [{ call: 1, afterTokens: 3 }].");
    for (const failure of failures) {
      if (typeof failure !== "object" || failure === null || !Number.isInteger(failure.call) || failure.call < 1) {
        invalid("createMockModel: each failure needs call, the 1-based doStream call number, e.g. { call: 1, afterTokens: 3 }.");
      }
      if (failure.afterTokens !== undefined && !(Number.isInteger(failure.afterTokens) && failure.afterTokens >= 0)) {
        invalid(`createMockModel: failure afterTokens must be an integer ≥ 0, not ${String(failure.afterTokens)}.`);
      }
    }
  }
}

/**
 * Creates a deterministic mock language model that implements the `@ai-sdk/provider` language
 * model interface of the spec version it reports (`"v4"` by default, `"v3"`, `"v2"`): no API key,
 * no network. `doStream` streams `stream-start`, `response-metadata`, `text-start`, one
 * `text-delta` per chunk, `text-end` and `finish` (with that version's finish reason and usage
 * shapes); `doGenerate` returns the whole text at once. It counts `doStream` calls (`calls`) so
 * failures can be injected on a given call, honours `abortSignal` (the stream errors with the
 * abort reason and stops producing) and stops producing when its stream is cancelled.
 *
 * Usage counts the prompt's words as input tokens and the deltas as output tokens.
 *
 * @example
 * ```ts
 * import { createMockModel, pipeModel } from "@durastream/ai";
 *
 * // The first call fails after 3 words; the retry (call 2) streams the whole answer.
 * const model = createMockModel({
 *   text: (prompt) => `You said: ${prompt}`,
 *   tokenDelayMs: 50,
 *   failures: [{ call: 1, afterTokens: 3, message: "Connection reset by the provider" }],
 * });
 *
 * const answer = await step.run("answer", ({ signal }) =>
 *   pipeModel(model, { call: { prompt: [{ role: "user", content: [{ type: "text", text: "Hi" }] }] }, signal }),
 * );
 * ```
 */
export function createMockModel<Version extends MockSpecificationVersion = "v4">(options: MockModelOptions<Version> = {}): MockLanguageModel<Version> {
  validate(options);
  const version: MockSpecificationVersion = options.specificationVersion ?? "v4";
  const chunking = options.chunking ?? "word";
  const tokenDelayMs = options.tokenDelayMs ?? 0;
  const failures = options.failures ?? [];
  const modelId = options.modelId ?? "mock-1";
  let calls = 0;

  const answerFor = (call: ModelCallOptions): string => {
    const prompt = lastUserText(call.prompt);
    const text = options.text;
    if (typeof text === "string") return text;
    if (typeof text === "function") return String(text(prompt));
    return defaultReply(prompt);
  };

  const model = {
    specificationVersion: version,
    provider: options.provider ?? "durastream-mock",
    modelId,
    supportedUrls: {},
    get calls(): number {
      return calls;
    },

    async doGenerate(call: ModelCallOptions) {
      call.abortSignal?.throwIfAborted();
      const text = answerFor(call);
      const input = promptWordCount(call.prompt);
      const output = splitIntoDeltas(text, chunking).length;
      const finish = finishPart(version, "stop", input, output) as Extract<ModelStreamPart, { type: "finish" }>;
      return {
        content: text === "" ? [] : [{ type: "text" as const, text }],
        finishReason: finish.finishReason,
        usage: finish.usage,
        warnings: [],
        response: { id: "mock-generate", modelId },
      };
    },

    async doStream(call: ModelCallOptions) {
      calls += 1;
      const callNumber = calls;
      const signal = call.abortSignal;
      signal?.throwIfAborted();
      const failure = failures.find((candidate) => candidate.call === callNumber);
      const failureError = (afterTokens: number): DurableAiError =>
        new DurableAiError(
          "MOCK_FAILURE",
          failure?.message ?? `Mock model failure injected on call ${callNumber} after ${afterTokens} tokens (the mock's failures option).`,
        );
      if (failure !== undefined && (failure.afterTokens ?? 0) === 0) throw failureError(0);

      const text = answerFor(call);
      const input = promptWordCount(call.prompt);
      let deltas = splitIntoDeltas(text, chunking);
      const textId = `text-${callNumber}`;
      const tail: ModelStreamPart[] = [];
      if (failure !== undefined) {
        // Fails after `afterTokens` deltas, or after the last one when the answer is shorter.
        deltas = deltas.slice(0, failure.afterTokens);
        tail.push({ type: "error", error: failureError(deltas.length) }, finishPart(version, "error", input, deltas.length));
      } else {
        tail.push({ type: "text-end", id: textId }, finishPart(version, "stop", input, deltas.length));
      }
      const parts: ModelStreamPart[] = [
        { type: "stream-start", warnings: [] },
        { type: "response-metadata", id: `mock-response-${callNumber}`, modelId },
        { type: "text-start", id: textId },
        ...deltas.map((delta): ModelStreamPart => ({ type: "text-delta", id: textId, delta })),
        ...tail,
      ];

      let index = 0;
      let finished = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let wake: (() => void) | undefined;
      let controllerRef: ReadableStreamDefaultController<ModelStreamPart> | undefined;
      const stop = (): void => {
        finished = true;
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
        wake?.();
        signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = (): void => {
        if (finished) return;
        const reason = abortReason(signal!);
        stop();
        controllerRef?.error(reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });

      const stream = new ReadableStream<ModelStreamPart>(
        {
          start(controller) {
            controllerRef = controller;
          },
          async pull(controller) {
            if (finished) return;
            const part = parts[index];
            if (part === undefined) {
              stop();
              controller.close();
              return;
            }
            if (part.type === "text-delta" && tokenDelayMs > 0) {
              await new Promise<void>((resolve) => {
                wake = resolve;
                timer = setTimeout(resolve, tokenDelayMs);
              });
              wake = undefined;
              timer = undefined;
              if (finished) return;
            }
            index += 1;
            controller.enqueue(part);
            if (index === parts.length) {
              stop();
              controller.close();
            }
          },
          cancel() {
            stop();
          },
        },
        { highWaterMark: 0 },
      );
      return { stream, response: { headers: {} } };
    },
  };
  return model as unknown as MockLanguageModel<Version>;
}
