import type { JSONValue, LanguageModelUsage, ModelMessage, StepResult, ToolSet, UIMessageChunk } from "ai";

/**
 * A file part of a model call as stored: the bytes as base64 (the AI SDK's `GeneratedFile` is a
 * class with lazy getters, which JSON does not keep).
 */
export interface StoredFile {
  readonly base64: string;
  readonly mediaType: string;
}

/**
 * What the `llm:<n>` step of {@link durableChat} stores: everything later decisions need (the
 * step's content, finish reason, usage and response messages), in JSON. Replays and retries of
 * later steps read this instead of calling the model again.
 */
export interface ModelCallRecord {
  readonly stepNumber: number;
  readonly callId: string;
  readonly provider: string;
  readonly modelId: string;
  /** The step's content parts (text, reasoning, sources, tool calls, …) with files as {@link StoredFile}. */
  readonly content: ReadonlyArray<Record<string, unknown>>;
  readonly finishReason: string;
  readonly rawFinishReason?: string;
  readonly usage: LanguageModelUsage;
  readonly warnings?: unknown[];
  readonly providerMetadata?: Record<string, unknown>;
  /** The response metadata; `timestamp` as an ISO string. */
  readonly response: { readonly id: string; readonly modelId: string; readonly timestamp: string; readonly headers?: Record<string, string> };
  /** The assistant message(s) of this call, ready for the next call's prompt. */
  readonly responseMessages: ModelMessage[];
  /** The UI message chunks this call committed (consecutive deltas of one part merged). */
  readonly chunks: UIMessageChunk[];
  /** Attempts of this call that failed before it succeeded, and their usage when it was known. */
  readonly failedAttempts: { readonly count: number; readonly usage?: LanguageModelUsage };
}

/**
 * The approval of a tool call, as {@link ToolCallRecord} keeps it: the id of the approval request,
 * the decision, and where it came from.
 *
 * @example
 * ```ts
 * const denied = (record: ToolCallRecord) => record.approval?.approved === false; // the tool did not run
 * ```
 */
export interface ToolApprovalRecord {
  readonly approvalId: string;
  /** Whether the tool call was approved (a timed-out wait counts as denied). */
  readonly approved: boolean;
  /** The reason of the decision (the approver's, the configuration's, or the timeout's). */
  readonly reason?: string;
  /** Decided by the `toolApproval` configuration (`'approved'` / `'denied'`), not by a user. */
  readonly isAutomatic?: boolean;
  /** The reason the configuration gave for asking (shown to the approver). */
  readonly requestReason?: string;
  /** The request's HMAC signature, with `experimental_toolApprovalSecret`. */
  readonly signature?: string;
}

/**
 * What a `tool:<toolCallId>` step of {@link durableChat} stores: the tool's output, or the message
 * of the error it threw (`error`), or, for a call whose approval was denied, neither (see
 * `approval`), plus the UI chunks of the call (its approval request and response, its output).
 */
export interface ToolCallRecord {
  readonly toolCallId: string;
  readonly toolName: string;
  readonly input: unknown;
  readonly dynamic?: boolean;
  readonly output?: JSONValue;
  readonly error?: string;
  /** Set for a call that needed an approval; `approved: false`: the tool did not run. */
  readonly approval?: ToolApprovalRecord;
  readonly chunks: UIMessageChunk[];
}

/** A JSON round trip, as the engine does for step outputs. Internal. */
export function jsonSafe<T>(value: T): T {
  const text = JSON.stringify(value);
  return (text === undefined ? null : JSON.parse(text)) as T;
}

/**
 * Merges consecutive `text-delta` / `reasoning-delta` / `tool-input-delta` chunks of the same part
 * into one, so a stored model call holds about as many bytes as its text. Internal.
 */
export function compactChunks(chunks: readonly UIMessageChunk[]): UIMessageChunk[] {
  const compacted: UIMessageChunk[] = [];
  for (const chunk of chunks) {
    const last = compacted.at(-1);
    if (last !== undefined && last.type === chunk.type) {
      if ((chunk.type === "text-delta" || chunk.type === "reasoning-delta") && (last as typeof chunk).id === chunk.id) {
        compacted[compacted.length - 1] = { ...chunk, delta: (last as typeof chunk).delta + chunk.delta };
        continue;
      }
      if (chunk.type === "tool-input-delta" && (last as typeof chunk).toolCallId === chunk.toolCallId) {
        compacted[compacted.length - 1] = { ...chunk, inputTextDelta: (last as typeof chunk).inputTextDelta + chunk.inputTextDelta };
        continue;
      }
    }
    compacted.push(chunk);
  }
  return compacted;
}

function storedContent(content: ReadonlyArray<{ type: string }>): Record<string, unknown>[] {
  return content.map((part) => {
    if ((part.type === "file" || part.type === "reasoning-file") && "file" in part) {
      const file = (part as { file: { base64: string; mediaType: string } }).file;
      return { ...part, file: { base64: file.base64, mediaType: file.mediaType } satisfies StoredFile };
    }
    if (part.type === "tool-error" && "error" in part) {
      const error = (part as { error: unknown }).error;
      return { ...part, error: error instanceof Error ? error.message : error };
    }
    return { ...part };
  });
}

/** Turns the AI SDK's step result of one model call into its JSON record. Internal. */
export function toModelCallRecord(
  stepNumber: number,
  result: StepResult<ToolSet>,
  responseMessages: ModelMessage[],
  chunks: readonly UIMessageChunk[],
  failedAttempts: ModelCallRecord["failedAttempts"],
): ModelCallRecord {
  return jsonSafe({
    stepNumber,
    callId: result.callId,
    provider: result.model.provider,
    modelId: result.model.modelId,
    content: storedContent(result.content),
    finishReason: result.finishReason,
    rawFinishReason: result.rawFinishReason,
    usage: result.usage,
    warnings: result.warnings,
    providerMetadata: result.providerMetadata,
    response: {
      id: result.response.id,
      modelId: result.response.modelId,
      timestamp: new Date(result.response.timestamp).toISOString(),
      headers: result.response.headers,
    },
    responseMessages,
    chunks: compactChunks(chunks),
    failedAttempts,
  });
}
