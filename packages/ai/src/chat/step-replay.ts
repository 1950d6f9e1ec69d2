import type { ModelMessage, StepResult, ToolResultPart, ToolSet } from "ai";
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
    const { approval } = tool;
    if (approval !== undefined) {
      // As streamText's step content has them: the request, the response, and no result for a denial.
      const toolCall = { type: "tool-call", ...base };
      content.push({
        type: "tool-approval-request",
        approvalId: approval.approvalId,
        toolCall,
        ...(approval.requestReason === undefined ? {} : { reason: approval.requestReason }),
        ...(approval.isAutomatic === true ? { isAutomatic: true } : {}),
      });
      content.push({ type: "tool-approval-response", approvalId: approval.approvalId, toolCall, approved: approval.approved, reason: approval.reason });
      if (!approval.approved) continue;
    }
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
 * error as `error-json`. A call whose approval was denied gets the result `streamText` gives it,
 * `{ type: "execution-denied", reason }`. No `tool-approval-response` parts: the provider prompt
 * drops them for tools run on this side, and the next `streamText` call would take a trailing one
 * for an approval still to carry out. `undefined` when no tool was answered. Internal.
 */
export async function toolResultMessage(tools: ToolSet | undefined, records: readonly ToolCallRecord[]): Promise<ModelMessage | undefined> {
  if (records.length === 0) return undefined;
  const ran = records.filter((record) => record.approval?.approved !== false);
  const content = ran.map((record) => ({
    toolCallId: record.toolCallId,
    toolName: record.toolName,
    input: record.input,
    ...(record.dynamic === true ? { dynamic: true } : {}),
    ...(record.error === undefined ? { type: "tool-result", output: record.output } : { type: "tool-error", error: record.error }),
  }));
  const messages = ran.length === 0 ? [] : await toResponseMessages({ content: content as Parameters<typeof toResponseMessages>[0]["content"], tools });
  const results = (messages.find((message) => message.role === "tool")?.content ?? []) as ToolResultPart[];
  const byId = new Map(results.map((part) => [part.toolCallId, part]));
  const parts = records.map((record): ToolResultPart | undefined =>
    record.approval?.approved === false
      ? { type: "tool-result", toolCallId: record.toolCallId, toolName: record.toolName, output: { type: "execution-denied", reason: record.approval.reason } }
      : byId.get(record.toolCallId),
  );
  return { role: "tool", content: parts.filter((part) => part !== undefined) };
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
