import { NonRetriableError, stream } from "@durastream/server";
import type { ModelMessage, ToolApprovalConfiguration, ToolSet, UIMessageChunk } from "ai";
import { collectToolApprovals, validateApprovedToolApprovals } from "ai/internal";
import type { ToolApprovalRecord, ToolCallRecord } from "./step-records.js";
import type { StoredToolCall } from "./tool-call.js";

/**
 * An approval the request's messages answered (a continuation: the last message is the assistant
 * message whose tool parts are `approval-responded`), as step `approval-responses` stores it.
 */
export interface ContinuedApproval extends StoredToolCall {
  readonly approvalId: string;
  readonly approved: boolean;
  readonly reason?: string;
  /** Approved, but the input from the messages fails the tool's schema: the tool does not run, the model gets this error. */
  readonly invalid?: string;
  /** Denied, and the messages carry its `execution-denied` result already (the model sees that one). */
  readonly answered?: boolean;
}

/** What checking a continuation's approvals needs. */
export interface ContinuationInput {
  readonly messages: ModelMessage[];
  readonly tools: ToolSet | undefined;
  readonly toolApproval: ToolApprovalConfiguration<ToolSet, unknown> | undefined;
  readonly toolsContext: unknown;
  readonly runtimeContext: unknown;
  readonly secret: string | Uint8Array | undefined;
  readonly refineToolInput: unknown;
}

/** Whether the last model message answers approvals (so step `approval-responses` has work). Cheap, deterministic. */
export function answersApprovals(messages: readonly ModelMessage[]): boolean {
  const last = messages.at(-1);
  return last?.role === "tool" && last.content.some((part) => part.type === "tool-approval-response");
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The body of step `approval-responses`: the approvals the request's messages answered, checked as
 * `streamText` checks them before its first model call, with the AI SDK's own helpers
 * (`collectToolApprovals`, `validateApprovedToolApprovals` from `ai/internal`):
 * - every `tool-approval-response` must answer a `tool-approval-request` of the messages whose tool
 *   call is there too (else the AI SDK's `InvalidToolApprovalError` /
 *   `ToolCallNotFoundForApprovalError`); a call already answered is skipped, and only the first
 *   response per call counts;
 * - with `experimental_toolApprovalSecret`, an approved call's request must carry a valid
 *   signature over its id, tool name and input (else `InvalidToolApprovalSignatureError`);
 * - an approved call's input (it comes from the client) must pass the server's tool schema (else
 *   the tool does not run and the model gets the error), and `toolApproval` / `needsApproval` is
 *   evaluated again: a call the configuration denies stays denied.
 * Only calls of tools this side executes count (provider-executed calls, client-side tools and
 * unknown tools are left alone). A failed check fails the step at once (`NonRetriableError`).
 * Internal.
 */
export async function collectContinuedApprovals(input: ContinuationInput): Promise<ContinuedApproval[]> {
  const executable = (toolName: string) => input.tools !== undefined && Object.hasOwn(input.tools, toolName) && input.tools[toolName]?.execute !== undefined;
  try {
    const collected = collectToolApprovals<ToolSet>({ messages: input.messages });
    const local = <T extends { toolCall: { toolName: string; providerExecuted?: boolean } }>(approvals: T[]): T[] =>
      approvals.filter((approval) => approval.toolCall.providerExecuted !== true && executable(approval.toolCall.toolName));
    const validated = await validateApprovedToolApprovals<ToolSet, unknown>({
      approvedToolApprovals: local(collected.approvedToolApprovals),
      tools: input.tools,
      toolApproval: input.toolApproval,
      messages: input.messages,
      toolsContext: input.toolsContext as never,
      runtimeContext: input.runtimeContext,
      ...(input.secret === undefined ? {} : { toolApprovalSecret: input.secret }),
      ...(input.refineToolInput === undefined ? {} : { refineToolInput: input.refineToolInput as never }),
    });
    type Collected = (typeof collected.approvedToolApprovals)[number];
    const toContinued = (approval: Collected, extra: { approved: boolean; invalid?: string }): ContinuedApproval => {
      const { toolCall, approvalResponse } = approval;
      return {
        toolCallId: toolCall.toolCallId,
        toolName: toolCall.toolName,
        input: toolCall.input,
        ...(toolCall.dynamic === true ? { dynamic: true } : {}),
        approvalId: approvalResponse.approvalId,
        ...(typeof approvalResponse.reason === "string" ? { reason: approvalResponse.reason } : {}),
        ...(approval.existingToolResult === undefined ? {} : { answered: true }),
        ...extra,
      };
    };
    const continued = [
      ...validated.approvedToolApprovals.map((approval) => toContinued(approval, { approved: true })),
      ...validated.invalidToolApprovals.map((approval) => toContinued(approval, { approved: true, invalid: messageOf(approval.error) })),
      ...[...local(collected.deniedToolApprovals), ...validated.deniedToolApprovals].map((approval) => toContinued(approval, { approved: false })),
    ];
    return JSON.parse(JSON.stringify(continued)) as ContinuedApproval[];
  } catch (error) {
    throw new NonRetriableError(`The approvals in the request's messages were refused: ${messageOf(error)}`, { cause: error });
  }
}

/** The approval record of a continued approval (no response chunk: the message carries the decision). */
export function continuedApprovalRecord(approval: ContinuedApproval): ToolApprovalRecord {
  return { approvalId: approval.approvalId, approved: approval.approved, ...(approval.reason === undefined ? {} : { reason: approval.reason }) };
}

/**
 * The body of the `tool:<toolCallId>` step of an approved call whose input failed the tool's
 * schema: pushes `tool-output-error` (as `streamText` does) and resolves with the error record;
 * the tool never runs. Internal.
 */
export function refuseToolCall(approval: ContinuedApproval): ToolCallRecord {
  const dynamic = approval.dynamic === true ? { dynamic: true } : {};
  const chunk: UIMessageChunk = {
    type: "tool-output-error",
    toolCallId: approval.toolCallId,
    errorText: approval.invalid ?? "Invalid tool input.",
    ...dynamic,
  };
  stream.push(chunk);
  return {
    toolCallId: approval.toolCallId,
    toolName: approval.toolName,
    input: approval.input,
    ...dynamic,
    error: chunk.errorText,
    approval: continuedApprovalRecord(approval),
    chunks: [chunk],
  };
}
