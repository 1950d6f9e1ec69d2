import { DurastreamError, stream, type StepAttempt } from "@durastream/server";
import type { JSONValue, ModelMessage, Tool, UIMessageChunk } from "ai";
import { jsonSafe, type ToolApprovalRecord, type ToolCallRecord } from "./step-records.js";

/** A tool call of a model call, as stored in its content. */
export interface StoredToolCall {
  readonly toolCallId: string;
  readonly toolName: string;
  readonly input: unknown;
  readonly dynamic?: boolean;
}

/** What one tool execution needs. */
export interface ToolCallInput {
  readonly toolCall: StoredToolCall;
  readonly tool: Tool;
  /** The messages the model saw when it called the tool (`execute`'s `messages`). */
  readonly messages: ModelMessage[];
  /** This tool's entry of `toolsContext` (`execute`'s `context`). */
  readonly context: unknown;
  /** The call's approval, when it needed one (approved here). */
  readonly approval?: ToolApprovalRecord;
  /** Push the approval's `tool-approval-response` before the output (a decision delivered to the run). */
  readonly respond?: boolean;
}

/**
 * The `tool-approval-response` chunk of a decision delivered to the run (pushed by the tool step,
 * before the output); none for one the configuration made (the approval step pushed it with the
 * request), nor for one the request's messages carry (the message has it already).
 */
function approvalResponseChunks(approval: ToolApprovalRecord | undefined, respond: boolean): UIMessageChunk[] {
  if (approval === undefined || !respond) return [];
  return [
    {
      type: "tool-approval-response",
      approvalId: approval.approvalId,
      approved: approval.approved,
      ...(approval.reason === undefined ? {} : { reason: approval.reason }),
    },
  ];
}

/**
 * The body of the `tool:<toolCallId>` step of a call whose approval was denied (by the user, the
 * configuration, or the timeout): pushes the delivered decision's `tool-approval-response` (with
 * `respond`) and `tool-output-denied`, as `streamText` does, and resolves with the record; the
 * tool never runs. Internal.
 */
export function denyToolCall(toolCall: StoredToolCall, approval: ToolApprovalRecord, respond: boolean): ToolCallRecord {
  const dynamic = toolCall.dynamic === true ? { dynamic: true } : {};
  const chunks: UIMessageChunk[] = [...approvalResponseChunks(approval, respond), { type: "tool-output-denied", toolCallId: toolCall.toolCallId }];
  for (const chunk of chunks) stream.push(chunk);
  return { toolCallId: toolCall.toolCallId, toolName: toolCall.toolName, input: toolCall.input, ...dynamic, approval, chunks };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === "object" && value !== null && Symbol.asyncIterator in value;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * One tool execution: the body of the `tool:<toolCallId>` step. Calls the tool's `execute` with
 * the attempt's signal; pushes `tool-output-available` (after any `preliminary` outputs of a tool
 * that yields) or, when the tool throws, `tool-output-error`, and resolves with the JSON record.
 * A tool error is an answer for the model, as in `streamText`, so it commits; only an abort (the
 * run was cancelled, the attempt timed out) and Durastream's own errors (`NonRetriableError`, …)
 * fail the step. Once the step committed, the engine never runs the tool again: retries of later
 * steps and replays get this record. Internal.
 */
export async function runToolCall(input: ToolCallInput, attempt: StepAttempt): Promise<ToolCallRecord> {
  const { toolCall, tool } = input;
  const { toolCallId } = toolCall;
  const dynamic = toolCall.dynamic === true ? { dynamic: true } : {};
  const approval = input.approval === undefined ? {} : { approval: input.approval };
  const base = { toolCallId, toolName: toolCall.toolName, input: toolCall.input, ...dynamic, ...approval };
  const execute = tool.execute as (input: unknown, options: unknown) => unknown;
  const responses = approvalResponseChunks(input.approval, input.respond === true);
  for (const chunk of responses) stream.push(chunk);
  try {
    const result = execute(toolCall.input, { toolCallId, messages: input.messages, abortSignal: attempt.signal, context: input.context });
    let output: unknown;
    if (isAsyncIterable(result)) {
      for await (const part of result) {
        output = part;
        stream.push({ type: "tool-output-available", toolCallId, output: jsonSafe(part), preliminary: true, ...dynamic } satisfies UIMessageChunk);
        await stream.ready;
      }
    } else {
      output = await result;
    }
    const stored = jsonSafe((output ?? null) as JSONValue);
    const chunk: UIMessageChunk = { type: "tool-output-available", toolCallId, output: stored, ...dynamic };
    stream.push(chunk);
    return { ...base, output: stored, chunks: [...responses, chunk] };
  } catch (error) {
    if (attempt.signal.aborted) throw attempt.signal.reason;
    if (DurastreamError.isInstance(error)) throw error;
    const chunk: UIMessageChunk = { type: "tool-output-error", toolCallId, errorText: errorText(error), ...dynamic };
    stream.push(chunk);
    return { ...base, error: chunk.errorText, chunks: [...responses, chunk] };
  }
}
