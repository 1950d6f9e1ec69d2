import { generateId } from "ai";
import { redirect } from "next/navigation";
import { Chat } from "@/components/chat";
import { isChatId, loadChat } from "@/lib/chat-store";

// Reads the chat from the store on every request.
export const dynamic = "force-dynamic";

/**
 * `/?chat=<id>` shows that chat, its saved messages first (`useChat`'s initial messages), and resumes
 * its running answer if there is one. `/` starts a new chat (redirects to a new id). `&transport=stock`
 * uses the AI SDK's own `DefaultChatTransport` instead of Durastream's full-fidelity transport.
 */
export default async function ChatPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { chat, transport } = await searchParams;
  const stock = transport === "stock";
  if (!isChatId(chat)) redirect(`/?${new URLSearchParams({ chat: generateId(), ...(stock ? { transport: "stock" } : {}) })}`);
  const model = process.env.OPENAI_API_KEY ? `openai/${process.env.OPENAI_MODEL ?? "gpt-4o-mini"}` : "mock model (scripted)";
  return <Chat id={chat} initialMessages={await loadChat(chat)} transport={stock ? "stock" : "durable"} model={model} />;
}
