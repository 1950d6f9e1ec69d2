import { isChatId, loadChat } from "@/lib/chat-store";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

/**
 * GET /api/chat/<id>: the chat's saved messages, `{ id, messages }` (`UIMessage[]`). The page reads
 * the store directly when it renders (`app/page.tsx`); this route is for other clients (and the test).
 * Authorize it in a real app.
 */
export async function GET(_request: Request, { params }: { params: Promise<{ id: string }> }): Promise<Response> {
  const { id } = await params;
  if (!isChatId(id)) return Response.json({ error: "Not a chat id." }, { status: 400 });
  return Response.json({ id, messages: await loadChat(id) });
}
