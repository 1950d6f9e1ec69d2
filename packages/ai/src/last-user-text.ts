function textOfContent(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .filter(
      (part): part is { text: string } =>
        typeof part === "object" && part !== null && (part as { type?: unknown }).type === "text" && typeof (part as { text?: unknown }).text === "string",
    )
    .map((part) => part.text)
    .join("\n");
}

function messagesOf(prompt: unknown): unknown[] | undefined {
  if (Array.isArray(prompt)) return prompt;
  if (typeof prompt === "object" && prompt !== null) {
    const record = prompt as { prompt?: unknown; messages?: unknown };
    if (Array.isArray(record.prompt)) return record.prompt;
    if (Array.isArray(record.messages)) return record.messages;
  }
  return undefined;
}

/**
 * The text of the last user message of a prompt (a helper for examples and the mock model).
 *
 * Accepts a provider prompt (`[{ role: "user", content: [{ type: "text", text }] }, …]`), call
 * options (`{ prompt: [...] }`), a request body with `messages` (content strings, content parts,
 * or AI SDK UI messages with `parts`), or a plain string (returned as is). Several text parts are
 * joined with newlines; non-text parts are skipped. Returns `""` when there is no user text.
 *
 * @example
 * ```ts
 * import { lastUserText } from "@durastream/ai";
 *
 * lastUserText([
 *   { role: "system", content: "Be brief." },
 *   { role: "user", content: [{ type: "text", text: "What is durable execution?" }] },
 * ]); // "What is durable execution?"
 * lastUserText({ messages: [{ role: "user", content: "Hi" }] }); // "Hi"
 * ```
 */
export function lastUserText(prompt: unknown): string {
  if (typeof prompt === "string") return prompt;
  const messages = messagesOf(prompt);
  if (messages === undefined) return "";
  for (let index = messages.length - 1; index >= 0; index--) {
    const message = messages[index];
    if (typeof message !== "object" || message === null) continue;
    const { role, content, parts } = message as { role?: unknown; content?: unknown; parts?: unknown };
    if (role !== "user") continue;
    const text = textOfContent(content);
    return text !== "" ? text : textOfContent(parts);
  }
  return "";
}
