/** One message of the conversation, as the page sends it and shows it. */
export interface ChatMessage {
  role: "user" | "assistant";
  content: string;
}

/** What the page POSTs to `/api/chat`. */
export interface ChatRequest {
  messages: ChatMessage[];
  /** Make the model fail once mid-answer, to see the rollback (also `?failOnce=1`). */
  failOnce?: boolean;
}

/** What `/api/chat` returns when the run succeeds (the result frame's body). */
export interface ChatResponse {
  text: string;
  finishReason: string;
  model: string;
}

const MAX_MESSAGES = 100;
const MAX_MESSAGE_LENGTH = 8_000;

/**
 * Reads and checks the chat request body; returns an error message for a bad one. The body is
 * stored with the run, so a re-executed handler reads the same messages.
 */
export function parseChatRequest(body: unknown): ChatRequest | string {
  if (typeof body !== "object" || body === null) return "The body must be a JSON object { messages: [...] }.";
  const { messages, failOnce } = body as Record<string, unknown>;
  if (!Array.isArray(messages) || messages.length === 0 || messages.length > MAX_MESSAGES) {
    return `"messages" must be an array of 1 to ${MAX_MESSAGES} messages.`;
  }
  for (const message of messages) {
    const { role, content } = (message ?? {}) as Record<string, unknown>;
    if ((role !== "user" && role !== "assistant") || typeof content !== "string" || content.length > MAX_MESSAGE_LENGTH) {
      return `Each message must be { role: "user" | "assistant", content: string } (at most ${MAX_MESSAGE_LENGTH} characters).`;
    }
  }
  if (messages.at(-1)?.role !== "user") return "The last message must be the user's.";
  return { messages: messages as ChatMessage[], failOnce: failOnce === true };
}

/** The conversation as a language-model prompt (text parts only: fits every provider spec version). */
export function toPrompt(messages: readonly ChatMessage[]) {
  return [
    { role: "system" as const, content: "You are a concise, friendly assistant." },
    ...messages.map((message) => ({
      role: message.role,
      content: [{ type: "text" as const, text: message.content }],
    })),
  ];
}
