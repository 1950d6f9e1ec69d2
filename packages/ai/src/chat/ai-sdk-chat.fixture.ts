// The AI SDK's own chat client, driven in Node for tests: AbstractChat (the base of @ai-sdk/react's
// Chat) with a state that records what it renders, and a durable chat endpoint handler.
import type { DurableHandler } from "@durastream/server";
import { AbstractChat, type ChatState, type ChatStatus, type UIMessage } from "ai";
import { durableChat } from "./durable-chat.js";

/** A `durable.endpoint` handler that answers the chat request's messages with `durableChat`. */
export function chatHandler(model: Parameters<typeof durableChat>[0]["model"], extra: Partial<Parameters<typeof durableChat>[0]> = {}): DurableHandler {
  return async (request) => {
    const { messages } = (await request.json()) as { messages: UIMessage[] };
    return durableChat({ model, messages, ...extra });
  };
}

/** The chat's state, as @ai-sdk/react keeps it, recording every assistant message it renders. */
export class RecordingState implements ChatState<UIMessage> {
  status: ChatStatus = "ready";
  error: Error | undefined = undefined;
  messages: UIMessage[];
  readonly renders: UIMessage[] = [];
  constructor(messages: UIMessage[] = []) {
    this.messages = messages;
  }
  pushMessage = (message: UIMessage): void => {
    this.messages.push(message);
    this.#record(message);
  };
  popMessage = (): void => {
    this.messages.pop();
  };
  replaceMessage = (index: number, message: UIMessage): void => {
    this.messages[index] = message;
    this.#record(message);
  };
  snapshot = <T>(thing: T): T => structuredClone(thing);
  #record(message: UIMessage): void {
    if (message.role === "assistant") this.renders.push(structuredClone(message));
  }
}

/** The AI SDK's chat class, as `useChat` uses it (without React). */
export class TestChat extends AbstractChat<UIMessage> {}
