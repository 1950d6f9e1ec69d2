import { InvalidOptionsError, type DurableEvent } from "@durastream/server";

/**
 * The name of the event that carries the decision on approval `approvalId` to the run that waits
 * for it: one name per approval, so that a run waiting for several approvals at once has one
 * registered wait per name (and a store finds the run by the name alone).
 */
export function chatApprovalEventName(approvalId: string): string {
  return `durastream/chat-approval:${approvalId}`;
}

/** Approval ids and reasons longer than this are refused: they come from clients. */
const MAX_APPROVAL_ID_LENGTH = 200;
const MAX_APPROVAL_REASON_LENGTH = 4_000;

/**
 * A user's decision on a tool approval request: the `approvalId` of the `tool-approval-request`
 * chunk (the `approval.id` of the tool part in `useChat`), whether the call is approved, and an
 * optional reason (given to the model with a denial).
 *
 * @example
 * ```ts
 * const decision: ChatApprovalDecision = { approvalId: part.approval.id, approved: false, reason: "Too expensive" };
 * ```
 */
export interface ChatApprovalDecision {
  readonly approvalId: string;
  readonly approved: boolean;
  readonly reason?: string;
}

/**
 * What is wrong with a decision from outside (a request body, a caller's object), or `undefined`
 * when it is a valid {@link ChatApprovalDecision}. Internal.
 */
export function approvalDecisionProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return 'expected an object { approvalId: string, approved: boolean, reason?: string }, e.g. { "approvalId": "…", "approved": true }.';
  }
  const { approvalId, approved, reason } = value as Record<string, unknown>;
  if (typeof approvalId !== "string" || approvalId === "" || approvalId.length > MAX_APPROVAL_ID_LENGTH) {
    return `"approvalId" must be the id of the tool approval request (a non-empty string of at most ${MAX_APPROVAL_ID_LENGTH} characters: the tool part's approval.id).`;
  }
  if (typeof approved !== "boolean") return `"approved" must be true or false, got ${JSON.stringify(approved) ?? "nothing"}.`;
  if (reason !== undefined && (typeof reason !== "string" || reason.length > MAX_APPROVAL_REASON_LENGTH)) {
    return `"reason" must be a string of at most ${MAX_APPROVAL_REASON_LENGTH} characters, or left out.`;
  }
  return undefined;
}

/**
 * The event that delivers a tool approval decision to the `durableChat` run waiting for it: pass
 * it to `durable.send`. Its name is `durastream/chat-approval:<approvalId>` and its data the
 * decision; the run waits for it with `step.waitForEvent` (matching `data.approvalId` too).
 * `durable.send` resolves with `{ woken: 0 }` when no run
 * waits for it (decided already, timed out, the run ended). {@link uiMessageApprovalHandler} does
 * this for an HTTP route. Throws an `InvalidOptionsError` for a malformed decision.
 *
 * @example
 * ```ts
 * import { chatApprovalEvent } from "@durastream/ai";
 *
 * const { woken } = await durable.send(chatApprovalEvent({ approvalId, approved: true }));
 * if (woken === 0) console.log("Nobody waits for this approval any more.");
 * ```
 */
export function chatApprovalEvent(decision: ChatApprovalDecision): DurableEvent {
  const problem = approvalDecisionProblem(decision);
  if (problem !== undefined) throw new InvalidOptionsError(`chatApprovalEvent(decision): ${problem}`);
  const { approvalId, approved, reason } = decision;
  return { name: chatApprovalEventName(approvalId), data: { approvalId, approved, ...(reason === undefined ? {} : { reason }) } };
}
