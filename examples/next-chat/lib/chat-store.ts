import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ChatMessage } from "./tools";

/**
 * The example's chat history: one JSON file of `UIMessage`s per chat, in `.data/chats/` (git-ignored;
 * `CHAT_DATA_DIR` moves it). Files rather than memory so the history outlives a restart of
 * `next dev`, and you can open them. A real app keeps chats in its database (see the README).
 */
function dataDirectory(): string {
  return path.resolve(process.env.CHAT_DATA_DIR ?? path.join(process.cwd(), ".data", "chats"));
}

const CHAT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Chat ids name files: only letters, digits, `_` and `-` (what `generateId` makes), so no path tricks. */
export function isChatId(id: unknown): id is string {
  return typeof id === "string" && CHAT_ID.test(id);
}

function chatFile(chatId: string): string {
  if (!isChatId(chatId)) throw new Error(`Not a chat id: ${JSON.stringify(chatId)}`);
  return path.join(dataDirectory(), `${chatId}.json`);
}

/** The chat's stored messages, oldest first; `[]` for a chat never saved. */
export async function loadChat(chatId: string): Promise<ChatMessage[]> {
  try {
    return JSON.parse(await readFile(chatFile(chatId), "utf8")) as ChatMessage[];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

// One write at a time per chat, in this process (kept on globalThis: `next dev` may load this module once per route).
const writes = ((globalThis as { [key: symbol]: Map<string, Promise<unknown>> | undefined })[Symbol.for("durastream.example.next-chat.writes")] ??= new Map());

/**
 * Upserts messages by id: a message already stored is replaced in place, a new one is appended.
 * Saving the same messages twice changes nothing, which is what `onFinish` needs (a process that
 * dies inside it runs it again). The file is replaced atomically (write, then rename).
 */
export function upsertMessages(chatId: string, messages: readonly ChatMessage[]): Promise<void> {
  const file = chatFile(chatId);
  const previous = writes.get(chatId) ?? Promise.resolve();
  const write = previous
    .catch(() => {})
    .then(async () => {
      const stored = await loadChat(chatId);
      const index = new Map(stored.map((message, position) => [message.id, position]));
      for (const message of messages) {
        const position = index.get(message.id);
        if (position === undefined) index.set(message.id, stored.push(message) - 1);
        else stored[position] = message;
      }
      await mkdir(path.dirname(file), { recursive: true });
      const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
      await writeFile(temporary, JSON.stringify(stored, null, 2));
      await rename(temporary, file);
    });
  writes.set(chatId, write);
  void write
    .finally(() => {
      if (writes.get(chatId) === write) writes.delete(chatId);
    })
    .catch(() => {});
  return write;
}
