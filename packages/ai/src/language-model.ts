import type {
  LanguageModelV2,
  LanguageModelV2CallOptions,
  LanguageModelV2StreamPart,
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3StreamPart,
  LanguageModelV4,
  LanguageModelV4CallOptions,
  LanguageModelV4StreamPart,
} from "@ai-sdk/provider";

/**
 * Any language model of the provider spec versions in use (`@ai-sdk/provider` `LanguageModelV2`,
 * `LanguageModelV3` or `LanguageModelV4`): what `openai("gpt-4o-mini")`, `anthropic(…)` and
 * friends return, and what {@link createMockModel} builds.
 *
 * @example
 * ```ts
 * import type { AnyLanguageModel } from "@durastream/ai";
 * import { openai } from "@ai-sdk/openai";
 *
 * const model: AnyLanguageModel = openai("gpt-4o-mini");
 * ```
 */
export type AnyLanguageModel = LanguageModelV2 | LanguageModelV3 | LanguageModelV4;

/**
 * The call options of `doStream` / `doGenerate` for any supported spec version (prompt,
 * maxOutputTokens, temperature, tools, abortSignal, …). A prompt made of `system`, `user` and
 * `assistant` text messages fits every version.
 *
 * @example
 * ```ts
 * import type { ModelCallOptions } from "@durastream/ai";
 *
 * const call: ModelCallOptions = {
 *   prompt: [{ role: "user", content: [{ type: "text", text: "Hello!" }] }],
 *   maxOutputTokens: 200,
 * };
 * ```
 */
export type ModelCallOptions = LanguageModelV2CallOptions | LanguageModelV3CallOptions | LanguageModelV4CallOptions;

/**
 * A stream part of `doStream` for any supported spec version.
 *
 * @example
 * ```ts
 * import type { ModelStreamPart } from "@durastream/ai";
 *
 * const part: ModelStreamPart = { type: "text-delta", id: "0", delta: "Hello" };
 * ```
 */
export type ModelStreamPart = LanguageModelV2StreamPart | LanguageModelV3StreamPart | LanguageModelV4StreamPart;

/**
 * Token usage in the one flat shape this package reports, whatever the spec version.
 *
 * @example
 * ```ts
 * import type { ModelUsage } from "@durastream/ai";
 *
 * const usage: ModelUsage = { inputTokens: 12, outputTokens: 40, totalTokens: 52 };
 * ```
 */
export interface ModelUsage {
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  readonly totalTokens?: number;
}

function tokenCount(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  // v3 / v4: { total, … }
  if (typeof value === "object" && value !== null) {
    const total = (value as { total?: unknown }).total;
    if (typeof total === "number" && Number.isFinite(total)) return total;
  }
  return undefined;
}

/**
 * Flattens a `finish` part's usage: v2 `{ inputTokens: number, … }` and v3/v4
 * `{ inputTokens: { total, … }, outputTokens: { total, … } }` both become
 * `{ inputTokens, outputTokens, totalTokens }`; unknown counts are left out, and `totalTokens` is
 * their sum when the model does not give it. Internal (not exported by the package).
 */
export function normalizeUsage(usage: unknown): ModelUsage {
  if (typeof usage !== "object" || usage === null) return {};
  const record = usage as Record<string, unknown>;
  const inputTokens = tokenCount(record.inputTokens);
  const outputTokens = tokenCount(record.outputTokens);
  let totalTokens = tokenCount(record.totalTokens);
  if (totalTokens === undefined && inputTokens !== undefined && outputTokens !== undefined) {
    totalTokens = inputTokens + outputTokens;
  }
  const result: { inputTokens?: number; outputTokens?: number; totalTokens?: number } = {};
  if (inputTokens !== undefined) result.inputTokens = inputTokens;
  if (outputTokens !== undefined) result.outputTokens = outputTokens;
  if (totalTokens !== undefined) result.totalTokens = totalTokens;
  return result;
}

/**
 * A `finish` part's finish reason as a string: v2 sends a string, v3/v4 `{ unified, raw }`
 * (the unified reason is used). Anything else is `"unknown"`. Internal (not exported by the package).
 */
export function normalizeFinishReason(finishReason: unknown): string {
  if (typeof finishReason === "string") return finishReason;
  if (typeof finishReason === "object" && finishReason !== null) {
    const { unified, raw } = finishReason as { unified?: unknown; raw?: unknown };
    if (typeof unified === "string") return unified;
    if (typeof raw === "string") return raw;
  }
  return "unknown";
}
