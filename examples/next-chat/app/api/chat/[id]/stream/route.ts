import { uiMessageResumeHandler } from "@durastream/ai";
import { durable } from "@/lib/durable";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

/**
 * GET /api/chat/<id>/stream: `useChat({ resume: true })` calls it when the page loads. `204` when
 * no answer of the chat is running (the chat stays as loaded); otherwise the running answer from
 * its start, then live, so the client rebuilds it once. The stock transport always asks here; the
 * durable transport asks when it remembers no run of the chat in this tab (another tab, device).
 *
 * Authorize it in a real app: whoever knows a chat id can read its running answer.
 */
export const GET = uiMessageResumeHandler(durable, { endpointId: "chat", waitEndpoint: durable.waitEndpoint() });
