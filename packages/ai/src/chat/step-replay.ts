import type { ModelMessage, StepResult, ToolSet } from "ai";
import { DefaultStepResult, toResponseMessages } from "ai/internal";
import type { ModelCallRecord, StoredFile, ToolCallRecord } from "./step-records.js";

/** One round of the loop as stored: a model call and the tools it called that ran. */
export interface StoredRound {
  readonly model: ModelCallRecord;
  readonly tools: readonly ToolCallRecord[];
}

function fileOf(stored: StoredFile): { base64: string; mediaType: string; uint8Array: Uint8Array } {
  return {
    base64: stored.base64,
    mediaType: stored.mediaType,
    get uint8Array() {
      return new Uint8Array(Buffer.from(stored.base64, "base64"));
    },
  };
}

/** Timings are not stored (they differ between executions); rehydrated steps report zeros. */
const noPerformance: StepResult<ToolSet>["performance"] = {
  effectiveOutputTokensPerSecond: 0,
  outputTokensPerSecond: undefined,
  inputTokensPerSecond: undefined,
  effectiveTotalTokensPerSecond: 0,
  stepTimeMs: 0,
  responseTimeMs: 0,
  toolExecutionMs: {},
  timeToFirstOutputMs: undefined,
};

/**
 * Rebuilds the AI SDK's `StepResult` of a stored round (`DefaultStepResult` from `ai/internal`,
 * so `text`, `toolCalls`, `toolResults`, … work as in `streamText`): the model call's content plus
 * a `tool-result` / `tool-error` part per tool that ran. `stopWhen` and `prepareStep` get these,
 * so every execution of the run decides from the same stored data. Internal.
 */
export function toStepResult<TOOLS extends ToolSet>(
  round: StoredRound,
  contexts: { toolsContext: unknown; runtimeContext: Record<string, unknown> },
): StepResult<TOOLS> {
  const { model, tools } = round;
  const content: unknown[] = model.content.map((part) =>
    (part.type === "file" || part.type === "reasoning-file") && typeof part.file === "object" && part.file !== null
      ? { ...part, file: fileOf(part.file as StoredFile) }
      : part,
  );
  for (const tool of tools) {
    const base = { toolCallId: tool.toolCallId, toolName: tool.toolName, input: tool.input, ...(tool.dynamic === true ? { dynamic: true } : {}) };
    content.push(tool.error === undefined ? { type: "tool-result", ...base, output: tool.output } : { type: "tool-error", ...base, error: tool.error });
  }
  return new DefaultStepResult<TOOLS>({
    callId: model.callId,
    stepNumber: model.stepNumber,
    provider: model.provider,
    modelId: model.modelId,
    runtimeContext: contexts.runtimeContext,
    toolsContext: contexts.toolsContext as StepResult<TOOLS>["toolsContext"],
    content: content as StepResult<TOOLS>["content"],
    finishReason: model.finishReason as StepResult<TOOLS>["finishReason"],
    rawFinishReason: model.rawFinishReason,
    usage: model.usage,
    performance: noPerformance,
    warnings: model.warnings as StepResult<TOOLS>["warnings"],
    request: {},
    response: { ...model.response, timestamp: new Date(model.response.timestamp), messages: model.responseMessages } as StepResult<TOOLS>["response"],
    providerMetadata: model.providerMetadata as StepResult<TOOLS>["providerMetadata"],
  });
}

/**
 * The `tool` message that carries the results of a round's tools to the next model call, built by
 * the AI SDK's own `toResponseMessages` (`ai/internal`), as `streamText` does: the tool's
 * `toModelOutput` when it has one, else text for a string output and JSON for anything else; an
 * error as `error-json`. `undefined` when no tool ran. Internal.
 */
async function toolResultMessage(tools: ToolSet | undefined, records: readonly ToolCallRecord[]): Promise<ModelMessage | undefined> {
  if (records.length === 0) return undefined;
  const content = records.map((record) => ({
    toolCallId: record.toolCallId,
    toolName: record.toolName,
    input: record.input,
    ...(record.dynamic === true ? { dynamic: true } : {}),
    ...(record.error === undefined ? { type: "tool-result", output: record.output } : { type: "tool-error", error: record.error }),
  }));
  const messages = await toResponseMessages({ content: content as Parameters<typeof toResponseMessages>[0]["content"], tools });
  return messages.find((message) => message.role === "tool");
}

/** The model messages the rounds so far add to the prompt: each call's response, then its tool results. Internal. */
export async function responseMessagesOf(tools: ToolSet | undefined, rounds: readonly StoredRound[]): Promise<ModelMessage[]> {
  const messages: ModelMessage[] = [];
  for (const round of rounds) {
    messages.push(...round.model.responseMessages);
    const toolMessage = await toolResultMessage(tools, round.tools);
    if (toolMessage !== undefined) messages.push(toolMessage);
  }
  return messages;
}
