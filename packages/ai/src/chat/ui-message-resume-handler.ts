import { acceptsEventStream, InvalidOptionsError, type Durable, type WebHandler } from "@durastream/server";
import { projectUIMessageStream, type UIMessageStreamHandlerOptions } from "./ui-message-stream-handler.js";

/** Options of {@link uiMessageResumeHandler}. */
export interface UIMessageResumeHandlerOptions extends UIMessageStreamHandlerOptions {
  /**
   * The id of the durable chat endpoint (`durable.endpoint(handler, { id, key })`), whose runs are
   * keyed by chat id (e.g. with `key: uiMessageChatKey`).
   */
  endpointId: string;
  /**
   * The chat id of a resume request. Default: the path segment before the last one, URL-decoded:
   * `[id]` of the stock route `GET /api/chat/[id]/stream` that `DefaultChatTransport` calls. Return
   * `null`/`undefined` when the request names no chat (the answer is then `204`). May be async.
   */
  chatId?: (request: Request) => string | null | undefined | Promise<string | null | undefined>;
}

const noContent = (): Response => new Response(null, { status: 204 });

/**
 * The chat id in the JSON body of the AI SDK's `DefaultChatTransport` (`{ id, messages, … }`), or
 * null when the body has none: the `key` of a durable chat endpoint, so that a run is addressed by
 * its chat id (a second POST for a chat whose answer is still running attaches to it, and
 * {@link uiMessageResumeHandler} finds it).
 *
 * @example
 * ```ts
 * const chat = durable.endpoint(handler, { id: "chat", key: uiMessageChatKey });
 * ```
 */
export async function uiMessageChatKey(request: Request): Promise<string | null> {
  const body: unknown = await request.json().catch(() => null);
  const id = typeof body === "object" && body !== null ? (body as { id?: unknown }).id : undefined;
  return typeof id === "string" && id !== "" ? id : null;
}

/** The default chat id: the path segment before the last (`/api/chat/[id]/stream`). */
function chatIdFromPath(request: Request): string | null {
  const segments = new URL(request.url).pathname.split("/").filter((segment) => segment !== "");
  const segment = segments.at(-2);
  if (segment === undefined) return null;
  try {
    return decodeURIComponent(segment);
  } catch {
    return null; // a malformed escape names no chat
  }
}

function validate(durable: unknown, options: unknown): asserts options is UIMessageResumeHandlerOptions {
  const invalid = (message: string): never => {
    throw new InvalidOptionsError(`uiMessageResumeHandler: ${message}`);
  };
  if (typeof (durable as Partial<Durable> | null)?.attach !== "function") {
    invalid('pass the object createDurable returned, e.g. uiMessageResumeHandler(durable, { endpointId: "chat" }).');
  }
  if (typeof options !== "object" || options === null) invalid('pass options with the chat endpoint\'s id, e.g. { endpointId: "chat" }.');
  const { endpointId, chatId } = options as Partial<UIMessageResumeHandlerOptions>;
  if (typeof endpointId !== "string" || endpointId === "") {
    invalid(`"endpointId" must be the durable chat endpoint's id, e.g. { endpointId: "chat" }; got ${String(endpointId)}.`);
  }
  if (chatId !== undefined && typeof chatId !== "function") invalid('"chatId" must be a function (request) => string | null.');
  // The options shared with uiMessageStreamHandler, checked as it checks them.
  const { waitEndpoint, keepAliveInterval, errorText } = options as UIMessageStreamHandlerOptions;
  if (waitEndpoint !== undefined && typeof waitEndpoint !== "function") invalid('"waitEndpoint" must be durable.waitEndpoint().');
  if (keepAliveInterval !== undefined && (typeof keepAliveInterval !== "number" || !(keepAliveInterval >= 1))) {
    invalid(`"keepAliveInterval" must be milliseconds >= 1, got ${String(keepAliveInterval)}.`);
  }
  if (errorText !== undefined && typeof errorText !== "function") invalid('"errorText" must be a function (failure) => string.');
}

/**
 * The route `useChat({ resume: true })` calls to resume a chat's answer: the stock
 * `DefaultChatTransport` sends `GET ${api}/${chatId}/stream` when the page loads (mount it at
 * `app/api/chat/[id]/stream/route.ts`). Its answer:
 * - `204` when no run of the chat endpoint is active for that chat id (the chat stays as it is);
 * - else the run's UI message stream replayed from its start, then live to its end, projected as
 *   `uiMessageStreamHandler` projects it (rolled-back model calls as `reset-step`, one `error`
 *   chunk for a final failure). The stock transport has `resumeStreamIsReplay = true`: the client
 *   rebuilds the answer from the replay (the message with the same id is replaced), so no part
 *   is duplicated. Requires the chat endpoint's runs to be keyed by chat id (`key: uiMessageChatKey`).
 *
 * A request whose `Accept` lists `text/event-stream` (a Durastream client) gets the run's
 * Durastream stream as `durable.attach` serves it, or the `204`. Closing the resumed stream (a
 * reload, `stop()` on the client) stops only this read; the run goes on. Authorize the request
 * before calling the handler: whoever knows a chat id can read its running answer.
 *
 * @example
 * ```ts
 * // app/api/chat/route.ts
 * const chat = durable.endpoint(handler, { id: "chat", key: uiMessageChatKey });
 * export const POST = uiMessageStreamHandler(chat, { waitEndpoint: durable.waitEndpoint() });
 *
 * // app/api/chat/[id]/stream/route.ts
 * export const GET = uiMessageResumeHandler(durable, { endpointId: "chat", waitEndpoint: durable.waitEndpoint() });
 *
 * // the client, unchanged but for `resume`
 * const { messages } = useChat({ id: chatId, resume: true });
 * ```
 */
export function uiMessageResumeHandler(durable: Pick<Durable, "attach">, options: UIMessageResumeHandlerOptions): WebHandler {
  validate(durable, options);
  const { endpointId, chatId: chatIdOf = chatIdFromPath, ...projection } = options;
  const attachTo =
    (chatId: string): WebHandler =>
    async (request) =>
      (await durable.attach(endpointId, chatId, request)) ?? noContent();
  return async (request) => {
    const chatId = await chatIdOf(request);
    if (typeof chatId !== "string" || chatId === "") return noContent();
    if (acceptsEventStream(request)) return attachTo(chatId)(request);
    return projectUIMessageStream(attachTo(chatId), request, projection);
  };
}
