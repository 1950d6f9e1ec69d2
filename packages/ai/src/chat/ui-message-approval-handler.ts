import { InvalidOptionsError, type Durable, type WebHandler } from "@durastream/server";
import { approvalDecisionProblem, chatApprovalEvent, type ChatApprovalDecision } from "./chat-approval-event.js";

/** Bodies above this size are refused (a decision is a few hundred bytes). */
const MAX_BODY_BYTES = 16 * 1024;

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response => Response.json(body, { status, headers });

/** The request's body as text, or null when it is larger than {@link MAX_BODY_BYTES}. */
async function boundedText(request: Request): Promise<string | null> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) return null;
  const text = await request.text();
  return new TextEncoder().encode(text).byteLength > MAX_BODY_BYTES ? null : text;
}

/**
 * The route that delivers a user's tool approval decision to the `durableChat` run waiting for it.
 * Answers a `POST` with the JSON body `{ approvalId: string, approved: boolean, reason?: string }`
 * (what `sendToolApproval` from `@durastream/ai/client` sends) by calling
 * `durable.send(chatApprovalEvent(decision))`:
 * - `202 { delivered: n }`: a run was waiting for this approval; its answer goes on (on the
 *   connection that is reading it: the tool runs, or is denied, then the next model call);
 * - `404 { message }`: no run waits for it: it was decided already, timed out, or the run ended
 *   or was cancelled (or the id is wrong);
 * - `400 { message }`: the body is not such a decision; `405` for other methods.
 *
 * The approval id is unguessable (made by the run), but it is the only thing checked here:
 * authorize the request first (is this user allowed to decide in this chat?), as for every route.
 *
 * @example
 * ```ts
 * // app/api/chat/approve/route.ts
 * import { uiMessageApprovalHandler } from "@durastream/ai";
 * import { durable } from "@/lib/durable";
 *
 * const approve = uiMessageApprovalHandler(durable);
 * export async function POST(request: Request) {
 *   if (!(await isSignedIn(request))) return new Response("Sign in first", { status: 401 });
 *   return approve(request);
 * }
 * ```
 */
export function uiMessageApprovalHandler(durable: Pick<Durable, "send">): WebHandler {
  if (typeof (durable as Partial<Durable> | null)?.send !== "function") {
    throw new InvalidOptionsError("uiMessageApprovalHandler: pass the object createDurable returned, e.g. uiMessageApprovalHandler(durable).");
  }
  return async (request) => {
    if (request.method !== "POST") {
      return json(405, { message: "Send the approval decision with POST." }, { allow: "POST" });
    }
    const text = await boundedText(request);
    if (text === null) return json(413, { message: `The approval decision must be at most ${MAX_BODY_BYTES} bytes of JSON.` });
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return json(400, { message: 'The body must be JSON: { "approvalId": "…", "approved": true, "reason"?: "…" }.' });
    }
    const problem = approvalDecisionProblem(body);
    if (problem !== undefined) return json(400, { message: `Invalid approval decision: ${problem}` });
    const decision = body as ChatApprovalDecision;
    const { woken } = await durable.send(chatApprovalEvent(decision));
    if (woken === 0) {
      return json(404, {
        message: `No chat run is waiting for approval ${JSON.stringify(decision.approvalId)}: it was decided already, it timed out, or its run ended.`,
      });
    }
    return json(202, { delivered: woken });
  };
}
