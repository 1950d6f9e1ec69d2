import { InvalidOptionsError, stream } from "@durastream/server";
import { DurableAiError } from "./errors.js";
import {
  normalizeFinishReason,
  normalizeUsage,
  type AnyLanguageModel,
  type ModelCallOptions,
  type ModelStreamPart,
  type ModelUsage,
} from "./language-model.js";

/**
 * Options of {@link pipeModel}.
 *
 * @example
 * ```ts
 * const options: PipeModelOptions = {
 *   call: { prompt: [{ role: "user", content: [{ type: "text", text: "Hi" }] }] },
 *   include: { reasoning: true },
 *   signal,
 * };
 * ```
 */
export interface PipeModelOptions {
  /**
   * The call options for `doStream` (prompt, maxOutputTokens, tools, …): the model's own call
   * options type. An `abortSignal` in here is honoured too, together with `signal`.
   */
  call: ModelCallOptions;
  /** Also stream reasoning deltas and tool calls as structured chunks. Default: text deltas only. */
  include?: { reasoning?: boolean; toolCalls?: boolean };
  /**
   * Aborts the model call: pass the step attempt's `signal`. Losing the client cancels it too when
   * the run is cancelled (`cancelOnDisconnect: true`).
   */
  signal?: AbortSignal;
}

/**
 * What {@link pipeModel} resolves with: the whole text, the finish reason as a string (`"stop"`,
 * `"length"`, `"tool-calls"`, …) and the token usage flattened to one shape for every spec version.
 *
 * @example
 * ```ts
 * const result: ModelStepResult = { text: "Hi!", finishReason: "stop", usage: { outputTokens: 2 } };
 * ```
 */
export interface ModelStepResult {
  readonly text: string;
  readonly finishReason: string;
  readonly usage: ModelUsage;
}

/**
 * A chunk {@link pipeModel} pushes for a reasoning delta (with `include.reasoning`).
 *
 * @example
 * ```ts
 * onData: ({ data }) => {
 *   if (typeof data === "object" && (data as ReasoningChunk).type === "reasoning") showThinking((data as ReasoningChunk).text);
 * };
 * ```
 */
export interface ReasoningChunk {
  readonly type: "reasoning";
  readonly text: string;
}

/**
 * A chunk {@link pipeModel} pushes for a complete tool call (with `include.toolCalls`). `input` is
 * the parsed JSON of the model's input string (the raw string when it is not valid JSON, `{}` when
 * it is empty).
 *
 * @example
 * ```ts
 * const chunk: ToolCallChunk = { type: "tool-call", toolCallId: "call-1", toolName: "weather", input: { city: "Paris" } };
 * ```
 */
export interface ToolCallChunk {
  readonly type: "tool-call";
  readonly toolCallId: string;
  readonly toolName: string;
  readonly input: unknown;
}

function parseToolInput(input: unknown): unknown {
  if (typeof input !== "string") return input ?? null;
  if (input.trim() === "") return {};
  try {
    return JSON.parse(input) as unknown;
  } catch {
    return input;
  }
}

function streamError(error: unknown): Error {
  if (error instanceof Error) return error;
  let message: string;
  if (typeof error === "string") message = error;
  else if (typeof error === "object" && error !== null && typeof (error as { message?: unknown }).message === "string") {
    message = (error as { message: string }).message;
  } else {
    try {
      message = JSON.stringify(error) ?? String(error);
    } catch {
      message = String(error);
    }
  }
  return new DurableAiError("MODEL_STREAM_ERROR", `The model's stream sent an error: ${message}`, { cause: error });
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("This operation was aborted", "AbortError");
}

function combineSignals(signals: ReadonlyArray<AbortSignal | undefined>): AbortSignal | undefined {
  const present = signals.filter((signal): signal is AbortSignal => signal !== undefined);
  if (present.length <= 1) return present[0];
  return AbortSignal.any(present);
}

/**
 * Streams a model's answer from inside a durable step: text deltas become string chunks
 * (`stream.push`), reasoning deltas become `{ type: "reasoning", text }` and tool calls
 * `{ type: "tool-call", toolCallId, toolName, input }` when asked for. Resolves with
 * `{ text, finishReason, usage }`. An `error` stream part, an errored stream or a throwing
 * `doStream` rejects, so the step is rolled back and retried.
 *
 * Works with any `@ai-sdk/provider` language model of spec v2, v3 or v4: `openai("gpt-4o-mini")`
 * from `@ai-sdk/openai`, other providers, or {@link createMockModel}. `signal` is passed to
 * `doStream` as `abortSignal`; when it aborts, `pipeModel` stops reading, cancels the model's
 * stream and rejects with the abort reason.
 *
 * @example
 * ```ts
 * import { createDurable, step } from "@durastream/server";
 * import { pipeModel, createMockModel, lastUserText } from "@durastream/ai";
 *
 * const durable = createDurable();
 * const model = createMockModel({ text: (prompt) => `You said: ${prompt}` });
 *
 * export const POST = durable.endpoint(async (request) => {
 *   const { prompt } = await request.json();
 *   const answer = await step.run("answer", ({ signal }) =>
 *     pipeModel(model, {
 *       call: { prompt: [{ role: "user", content: [{ type: "text", text: prompt }] }] },
 *       signal,
 *     }),
 *   );
 *   return Response.json(answer); // { text, finishReason, usage }
 * });
 * ```
 */
export async function pipeModel(model: AnyLanguageModel, options: PipeModelOptions): Promise<ModelStepResult> {
  if (typeof model !== "object" || model === null || typeof (model as { doStream?: unknown }).doStream !== "function") {
    throw new InvalidOptionsError('pipeModel needs a language model with a doStream method, e.g. openai("gpt-4o-mini") or createMockModel().');
  }
  if (typeof options !== "object" || options === null || typeof options.call !== "object" || options.call === null) {
    throw new InvalidOptionsError("pipeModel needs options.call, the doStream call options, e.g. { call: { prompt: [...] }, signal }.");
  }
  const { call, include = {}, signal } = options;
  const abortSignal = combineSignals([signal, call.abortSignal]);
  if (abortSignal?.aborted) throw abortReason(abortSignal);

  let removeAbortListener = (): void => {};
  const aborted = new Promise<never>((_, reject) => {
    if (abortSignal === undefined) return;
    const onAbort = (): void => reject(abortReason(abortSignal));
    abortSignal.addEventListener("abort", onAbort, { once: true });
    removeAbortListener = () => abortSignal.removeEventListener("abort", onAbort);
  });
  aborted.catch(() => {});

  // Each model type takes its own version's call options; the union is the caller's promise.
  const doStream = model.doStream.bind(model) as (callOptions: ModelCallOptions) => PromiseLike<{
    stream: ReadableStream<ModelStreamPart>;
  }>;
  let reader: ReadableStreamDefaultReader<ModelStreamPart>;
  let gaveUp = false;
  try {
    const started = Promise.resolve(doStream({ ...call, abortSignal }));
    // A model that ignores the signal while connecting: give up at the abort, cancel its stream later.
    started.then(
      ({ stream: late }) => (gaveUp ? late.cancel(abortSignal === undefined ? undefined : abortReason(abortSignal)) : undefined),
      () => {},
    );
    reader = (await Promise.race([started, aborted])).stream.getReader();
  } catch (error) {
    gaveUp = true;
    removeAbortListener();
    throw error;
  }

  let text = "";
  let finishReason = "unknown";
  let usage: ModelUsage = {};
  try {
    for (;;) {
      if (abortSignal?.aborted) throw abortReason(abortSignal);
      const next = await Promise.race([reader.read(), aborted]);
      if (next.done) break;
      const part = next.value as ModelStreamPart & Record<string, unknown>;
      switch (part.type) {
        case "text-delta": {
          const delta = typeof part.delta === "string" ? part.delta : typeof part.textDelta === "string" ? part.textDelta : "";
          if (delta !== "") {
            text += delta;
            stream.push(delta);
          }
          break;
        }
        case "reasoning-delta": {
          const delta = typeof part.delta === "string" ? part.delta : "";
          if (include.reasoning === true && delta !== "") stream.push({ type: "reasoning", text: delta } satisfies ReasoningChunk);
          break;
        }
        case "tool-call": {
          if (include.toolCalls === true) {
            stream.push({
              type: "tool-call",
              toolCallId: String(part.toolCallId),
              toolName: String(part.toolName),
              input: parseToolInput(part.input),
            } satisfies ToolCallChunk);
          }
          break;
        }
        case "finish": {
          finishReason = normalizeFinishReason(part.finishReason);
          usage = normalizeUsage(part.usage);
          break;
        }
        case "error":
          throw streamError(part.error);
        default:
          break;
      }
    }
  } catch (error) {
    // Stop the model: cancelling the reader cancels the model's stream (and its HTTP response).
    reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    removeAbortListener();
  }
  reader.releaseLock();
  return { text, finishReason, usage };
}
