import { step, stream, type Duration } from "@durastream/server";
import type { ModelMessage, ToolApprovalConfiguration, ToolSet, UIMessageChunk } from "ai";
import { resolveToolApproval, signToolApproval } from "ai/internal";
import { chatApprovalEventName } from "./chat-approval-event.js";
import type { ToolApprovalRecord } from "./step-records.js";
import type { StoredToolCall } from "./tool-call.js";

/** How a run decides approvals: the options of `durableChat` that concern them. */
export interface ApprovalSettings {
  readonly toolApproval: ToolApprovalConfiguration<ToolSet, unknown> | undefined;
  /** How long a user approval is waited for, as the option was given (also in the timeout's reason). */
  readonly timeout: Duration;
  readonly secret: string | Uint8Array | undefined;
}

/** What the `approval:<toolCallId>` step stores: the resolved status, and the request's id. */
interface StoredApproval {
  readonly type: "not-applicable" | "approved" | "denied" | "user-approval";
  readonly approvalId?: string;
  readonly reason?: string;
  readonly signature?: string;
}

/** Everything deciding the approvals of one model call's tool calls needs. */
export interface ApprovalInput {
  readonly calls: readonly StoredToolCall[];
  readonly tools: ToolSet | undefined;
  readonly settings: ApprovalSettings;
  /** The messages the model saw when it called the tools (the config functions' `messages`). */
  readonly messages: ModelMessage[];
  readonly toolsContext: unknown;
  readonly runtimeContext: unknown;
}

/** Whether any approval can be needed: a `toolApproval` option, or a tool with `needsApproval`. */
export function approvalsConfigured(tools: ToolSet | undefined, toolApproval: unknown): boolean {
  if (toolApproval !== undefined && toolApproval !== null) return true;
  return Object.values(tools ?? {}).some((tool) => {
    const needsApproval = (tool as { needsApproval?: unknown }).needsApproval;
    return needsApproval !== undefined && needsApproval !== false;
  });
}

/**
 * The chunks of a call's approval that the approval steps pushed: the `tool-approval-request`
 * (`isAutomatic` for a decision of the configuration, then with its `tool-approval-response`).
 * Rebuilt from the stored decision, for the answer's message. Internal.
 */
export function approvalRequestChunks(toolCallId: string, approval: ToolApprovalRecord): UIMessageChunk[] {
  const request: UIMessageChunk = {
    type: "tool-approval-request",
    approvalId: approval.approvalId,
    toolCallId,
    ...(approval.requestReason === undefined ? {} : { reason: approval.requestReason }),
    ...(approval.isAutomatic === true ? { isAutomatic: true } : {}),
    ...(approval.signature === undefined ? {} : { signature: approval.signature }),
  };
  if (approval.isAutomatic !== true) return [request];
  return [
    request,
    {
      type: "tool-approval-response",
      approvalId: approval.approvalId,
      approved: approval.approved,
      ...(approval.reason === undefined ? {} : { reason: approval.reason }),
    },
  ];
}

/** An approval id: unguessable (it is all a client needs to decide), made once inside a step. */
function newApprovalId(): string {
  return `approval-${globalThis.crypto.randomUUID()}`;
}

/** The body of the `approval:<toolCallId>` step: resolves the status as `streamText` does, once. */
async function resolveApproval(input: ApprovalInput, call: StoredToolCall): Promise<StoredApproval> {
  const { settings } = input;
  const status = await resolveToolApproval({
    tools: input.tools,
    toolCall: { type: "tool-call", ...call, ...(call.dynamic === true ? { dynamic: true } : {}) } as never,
    toolApproval: settings.toolApproval,
    messages: input.messages,
    toolsContext: input.toolsContext as never,
    runtimeContext: input.runtimeContext,
  });
  if (status.type === "not-applicable") return { type: "not-applicable" };
  const approvalId = newApprovalId();
  const signature =
    settings.secret === undefined
      ? undefined
      : await signToolApproval({ secret: settings.secret, approvalId, toolCallId: call.toolCallId, toolName: call.toolName, input: call.input });
  const stored: StoredApproval = {
    type: status.type,
    approvalId,
    ...(typeof status.reason === "string" ? { reason: status.reason } : {}),
    ...(signature === undefined ? {} : { signature }),
  };
  // A decision of the configuration shows at once, as in streamText; a user's request waits for
  // the waits to be stored (see decideApprovals).
  if (stored.type !== "user-approval") {
    for (const chunk of approvalRequestChunks(call.toolCallId, recordOf(stored, undefined))) stream.push(chunk);
  }
  return stored;
}

function recordOf(stored: StoredApproval, decision: { approved: boolean; reason?: string } | undefined): ToolApprovalRecord {
  const base = { approvalId: stored.approvalId!, ...(stored.signature === undefined ? {} : { signature: stored.signature }) };
  if (stored.type === "user-approval") {
    return {
      ...base,
      approved: decision?.approved === true,
      ...(decision?.reason === undefined ? {} : { reason: decision.reason }),
      ...(stored.reason === undefined ? {} : { requestReason: stored.reason }),
    };
  }
  return { ...base, approved: stored.type === "approved", isAutomatic: true, ...(stored.reason === undefined ? {} : { reason: stored.reason }) };
}

/** The decision an event carries (defensively: `durable.send` may be called with anything). */
function decisionOf(data: unknown): { approved: boolean; reason?: string } {
  const { approved, reason } = (typeof data === "object" && data !== null ? data : {}) as { approved?: unknown; reason?: unknown };
  return { approved: approved === true, ...(typeof reason === "string" ? { reason } : {}) };
}

/**
 * Decides the approvals of one model call's tool calls, as durable steps. For each call, step
 * `approval:<toolCallId>` resolves its status once with the AI SDK's own `resolveToolApproval`
 * (`toolApproval`, else the tool's deprecated `needsApproval`) and makes the approval id; the
 * configuration's `'approved'` / `'denied'` show at once (an automatic request and its response).
 * The calls that need a user are then waited for together: one `step.waitForEvent`
 * (`approval-wait:<toolCallId>`) per call, and one step `approval-request:<toolCallId>` per call
 * that pushes its `tool-approval-request`. The waits are called first, so their journal entries
 * are queued to the store before the request steps' (the run's writer stores in order, and a step
 * pushes only once its start is stored): when a user sees a request, a decision sent for it finds
 * the run waiting. A timed-out wait is a denial that says so. Resolves with the decisions by tool
 * call id; a call with none needs no approval. Internal.
 */
export async function decideApprovals(input: ApprovalInput): Promise<Map<string, ToolApprovalRecord>> {
  const stored = new Map<string, StoredApproval>();
  for (const call of input.calls) {
    stored.set(call.toolCallId, await step.run(`approval:${call.toolCallId}`, () => resolveApproval(input, call)));
  }
  const waiting = input.calls.filter((call) => stored.get(call.toolCallId)?.type === "user-approval");
  const { timeout } = input.settings;
  const waits = waiting.map((call) => {
    const approvalId = stored.get(call.toolCallId)!.approvalId!;
    return step.waitForEvent(`approval-wait:${call.toolCallId}`, {
      event: chatApprovalEventName(approvalId),
      match: { "data.approvalId": approvalId },
      timeout,
    });
  });
  const requests = waiting.map((call) =>
    step.run(`approval-request:${call.toolCallId}`, () => {
      for (const chunk of approvalRequestChunks(call.toolCallId, recordOf(stored.get(call.toolCallId)!, undefined))) stream.push(chunk);
      return null;
    }),
  );
  const [events] = await Promise.all([Promise.all(waits), Promise.all(requests)]);

  const decisions = new Map<string, ToolApprovalRecord>();
  for (const call of input.calls) {
    const approval = stored.get(call.toolCallId)!;
    if (approval.type === "not-applicable") continue;
    if (approval.type !== "user-approval") {
      decisions.set(call.toolCallId, recordOf(approval, undefined));
      continue;
    }
    const event = events[waiting.indexOf(call)];
    const decision =
      event === null || event === undefined
        ? { approved: false, reason: `The approval timed out: nobody decided within ${String(timeout)}.` }
        : decisionOf(event.data);
    decisions.set(call.toolCallId, recordOf(approval, decision));
  }
  return decisions;
}
