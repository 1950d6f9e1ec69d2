import { durableChat, uiMessageChatKey, uiMessageStreamHandler } from "@durastream/ai";
import { isStepCount, validateUIMessages } from "ai";
import { isChatId, upsertMessages } from "@/lib/chat-store";
import { durable } from "@/lib/durable";
import { chatModel } from "@/lib/model";
import { type ChatMessage, tools } from "@/lib/tools";

// The durable engine uses AsyncLocalStorage and keeps runs in this process: Node.js runtime, never cached.
export const runtime = "nodejs";
export const dynamic = "force-dynamic";

const MAX_MESSAGES = 200;

/**
 * The chat's answers, as durable runs: `durableChat` runs the AI SDK's `streamText` loop one
 * durable step per model call and per tool call. A model call that fails mid-answer is rolled
 * back (the client removes its text) and retried; a tool that completed never runs again;
 * `onFinish` runs once. Runs are keyed by the chat id (`uiMessageChatKey` reads the body's `id`):
 * a double submit attaches to the running answer, and the resume route finds it.
 *
 * The body is what `useChat` sends, `{ id, messages, trigger, messageId }`, plus the page's
 * `failOnce` (also `?failOnce=1`). It is stored with the run, so a re-executed run reads the same.
 */
const chat = durable.endpoint(
  async (request) => {
    const body = (await request.json().catch(() => null)) as { id?: unknown; messages?: unknown; failOnce?: unknown } | null;
    const chatId = body?.id;
    if (!isChatId(chatId)) return Response.json({ error: "The body needs the chat's id (letters, digits, _ and -)." }, { status: 400 });
    if (!Array.isArray(body?.messages) || body.messages.length > MAX_MESSAGES) {
      return Response.json({ error: `"messages" must be an array of at most ${MAX_MESSAGES} UI messages.` }, { status: 400 });
    }
    let messages: ChatMessage[];
    try {
      messages = await validateUIMessages<ChatMessage>({ messages: body.messages, tools });
    } catch (error) {
      return Response.json({ error: `Invalid messages: ${(error as Error).message}` }, { status: 400 });
    }
    const failOnce = body?.failOnce === true || new URL(request.url).searchParams.get("failOnce") === "1";

    // Save the question now, so a page reloaded mid-answer shows it above the resumed answer.
    await upsertMessages(chatId, messages);

    return durableChat({
      model: chatModel({ failOnce }),
      instructions: "You are a concise, friendly assistant. For questions about the weather, call the weather tool.",
      messages,
      tools,
      stopWhen: isStepCount(5),
      // Once per answer, however many attempts failed. An upsert by message id: runs again harmlessly.
      onFinish: ({ messages }) => upsertMessages(chatId, messages),
    });
  },
  // A stable id: with a durable store, a restarted process resumes this endpoint's runs by it.
  { id: "chat", key: uiMessageChatKey },
);

/**
 * POST /api/chat: `useChat`'s stock `DefaultChatTransport` gets the AI SDK's UI message stream
 * (a rollback becomes `reset-step`); `createDurableChatTransport` (it sends
 * `Accept: text/event-stream`) gets the Durastream protocol, with commits and rollbacks.
 */
export const POST = uiMessageStreamHandler(chat, { waitEndpoint: durable.waitEndpoint() });
