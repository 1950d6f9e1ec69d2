import { APICallError } from "@ai-sdk/provider";
import {
  cancelRun,
  DurableClientError,
  type DurableStreamSnapshot,
  type DurableStreamStorage,
  type FetchFunction,
  type ReconnectOptions,
} from "@durastream/client";
import type { ChatTransport, PrepareSendMessagesRequest, UIMessage, UIMessageChunk } from "ai";
import { ChatResponse, IDLE_CHAT_STATE, type DurableChatState } from "./chat-response.js";
import { ChatRunMemory } from "./chat-run-memory.js";

/**
 * A value, a promise of it, or a function returning either: resolved at every request (as the
 * AI SDK's `DefaultChatTransport` does with its `headers`, `body` and `credentials`).
 *
 * @example
 * ```ts
 * const headers: Resolvable<Record<string, string>> = async () => ({ authorization: `Bearer ${await getToken()}` });
 * ```
 */
export type Resolvable<T> = T | PromiseLike<T> | (() => T | PromiseLike<T>);

/**
 * Options of {@link createDurableChatTransport}. The request options are those of the AI SDK's
 * `DefaultChatTransport` (same names, same defaults, same request body).
 *
 * @example
 * ```ts
 * const options: DurableChatTransportOptions = {
 *   api: "/api/chat",
 *   headers: () => ({ authorization: `Bearer ${token}` }),
 *   reconnect: { retries: 20 },
 * };
 * ```
 */
export interface DurableChatTransportOptions<UI_MESSAGE extends UIMessage = UIMessage> {
  /** The chat route (a `durable.endpoint`, usually behind `uiMessageStreamHandler`). Default `/api/chat`. */
  api?: string;
  /** `credentials` of every request, including the reconnects and resumes to the wait endpoint. */
  credentials?: Resolvable<RequestCredentials>;
  /** Headers of every request, including the reconnects and resumes to the wait endpoint. */
  headers?: Resolvable<Record<string, string> | Headers>;
  /** Extra properties of the `POST` body, e.g. `{ sessionId }`. */
  body?: Resolvable<object>;
  /** The `fetch` of every connection. Defaults to `globalThis.fetch` (looked up at each call). */
  fetch?: FetchFunction;
  /**
   * Builds the `POST` (body, headers, credentials, api) from the chat's request, as with
   * `DefaultChatTransport`, e.g. to send only the last message.
   */
  prepareSendMessagesRequest?: PrepareSendMessagesRequest<UI_MESSAGE>;
  /** How to reconnect after a dropped connection (`@durastream/client`'s `ReconnectOptions`); `false` never does. */
  reconnect?: false | ReconnectOptions;
  /**
   * Where to remember, per chat id, the run to resume after a page reload (its id and resume URL;
   * never messages). Default `sessionStorage` when it exists; `false` keeps it in memory only
   * (then `reconnectToStream` resumes within the page, not after a reload).
   */
  storage?: DurableStreamStorage | false;
  /** The storage key prefix: a chat's run is saved under `<prefix><chatId>`. Default `"durastream-chat:"`. */
  storageKeyPrefix?: string;
  /**
   * The resume route (`uiMessageResumeHandler`) to ask when this transport remembers no run for a
   * chat: the chat was opened in another tab or on another device, or the storage was cleared.
   * Its answer is read in the Durastream protocol (the route serves both); a `204` (nothing runs)
   * makes `reconnectToStream` resolve `null`. Default `` `${api}/${chatId}/stream` `` (the chat id
   * URL-encoded), where `DefaultChatTransport` looks; `false` never asks.
   */
  resumeRoute?: false | ((chatId: string) => string);
}

/**
 * A `ChatTransport` for `useChat` / `Chat` that speaks the Durastream protocol, plus a view of
 * each chat's committed and uncommitted output. See {@link createDurableChatTransport}.
 *
 * @example
 * ```ts
 * const transport: DurableChatTransport = createDurableChatTransport();
 * const unsubscribe = transport.subscribe("chat-1", () => console.log(transport.getState("chat-1").status));
 * ```
 */
export interface DurableChatTransport<UI_MESSAGE extends UIMessage = UIMessage> extends ChatTransport<UI_MESSAGE> {
  /** Always `true`: `reconnectToStream` replays the run's answer from its start, so the chat rebuilds the message once. */
  readonly resumeStreamIsReplay: true;
  /** The latest response of chat `chatId` (`status: "idle"` before the first). Referentially stable between changes. */
  getState(chatId: string): DurableChatState;
  /** Calls `listener` after every change of `getState(chatId)`; returns the unsubscribe function. */
  subscribe(chatId: string, listener: () => void): () => void;
  /**
   * Cancels the chat's running answer on the server (`cancelRun` with its resume URL, sending this
   * transport's `headers`, `credentials` and `fetch`) and forgets the run, so a reload does not
   * replay the cancelled answer. Call it after `useChat`'s `stop()`, which only closes the
   * connection. Resolves `true` once the cancel is stored, `false` when there is no run to cancel
   * (none known for the chat, or the server no longer knows it); rejects with a
   * `DurableClientError` when the server refuses.
   */
  cancel(chatId: string): Promise<boolean>;
}

const DEFAULT_API = "/api/chat";

async function resolveValue<T>(value: Resolvable<T> | undefined): Promise<T | undefined> {
  return typeof value === "function" ? await (value as () => T | PromiseLike<T>)() : await value;
}

function headerRecord(...inits: (HeadersInit | undefined)[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const init of inits) for (const [name, value] of new Headers(init)) headers[name] = value;
  return headers;
}

/** A 404 or 410 from the wait endpoint: the run is unknown, or its resume URL expired. */
function isGone(error: unknown): boolean {
  return DurableClientError.isInstance(error) && error.code === "HTTP" && (error.status === 404 || error.status === 410);
}

/** The resume route's "nothing runs for this chat" (`204`), or a route that is not mounted (`404`). */
function isNothingToResume(error: unknown): boolean {
  return isGone(error) || (DurableClientError.isInstance(error) && error.code === "HTTP" && error.status === 204);
}

/** The error `sendMessages` / `reconnectToStream` throw when the response is no durable stream. */
function openingError(snapshot: DurableStreamSnapshot<UIMessageChunk>, url: string): Error {
  if (snapshot.error !== null) return snapshot.error; // a network failure, an HTTP error from the wait endpoint, an abort
  const result = snapshot.result;
  if (result === null) return new Error("The chat stream ended before it began.");
  const text = typeof result.body === "string" ? result.body : JSON.stringify(result.body);
  if (result.status < 200 || result.status > 299) {
    return new APICallError({
      message: text || "Failed to fetch the chat response.",
      url,
      requestBodyValues: undefined,
      statusCode: result.status,
      responseBody: text,
    });
  }
  return new Error(
    `The chat route answered HTTP ${result.status} without a Durastream stream: serve it with durable.endpoint (behind uiMessageStreamHandler for stock clients).`,
  );
}

/**
 * Creates a `ChatTransport` for the AI SDK's `useChat` / `Chat` that talks to a durable chat route
 * (a `durable.endpoint` whose handler returns `durableChat(…)`, usually served through
 * `uiMessageStreamHandler`, which passes this transport's requests through) in the Durastream
 * protocol instead of the UI message stream protocol. Compared with `DefaultChatTransport`:
 *
 * - **Dropped connections** are resumed from the last frame received (`Last-Event-ID`), by
 *   `fetchWithStream`: nothing is replayed, nothing lost; the chat just keeps streaming.
 * - **Redirects** to the wait endpoint (a run that sleeps or waits out a retry backoff in the
 *   background) are followed by the client, so the server holds no connection open meanwhile.
 * - **Resume after a reload**: `reconnectToStream` (`useChat({ resume: true })`) finds the chat's
 *   run by the resume URL remembered per chat id (in `sessionStorage`, see `storage`) and replays
 *   it from its start (`resumeStreamIsReplay: true`: the chat rebuilds the message once), then
 *   follows it live; no resume route is needed for that. When it remembers no run for the chat
 *   (another tab or device), it asks the resume route (`resumeRoute`, default
 *   `${api}/${chatId}/stream`, `uiMessageResumeHandler`), which finds the chat's active run by its
 *   key. It returns `null` when nothing runs (the route's `204`, or no route: `404`), or when the
 *   wait endpoint no longer knows the remembered run (404/410); a run is forgotten once its result
 *   arrived.
 * - **Committed vs. uncommitted** text per chat: `getState(chatId)` / `subscribe(chatId, …)`.
 *
 * The chunks are those `uiMessageStreamHandler` sends a stock client (same projection): each UI
 * message chunk at once; the rollback of a model call that streamed as `reset-step` (the retry's
 * `start-step` dropped); a run that fails for good ends with one `error` chunk.
 *
 * `sendMessages` sends what `DefaultChatTransport` sends (`POST api` with
 * `{ ...body, id, messages, trigger, messageId }` as JSON, or what `prepareSendMessagesRequest`
 * returns), plus `Accept: text/event-stream`. A response that is not a durable stream fails the
 * request (an `APICallError` with the status for a non-2xx).
 *
 * **Stop**: the chat's abort signal (`stop()`, and `useChat` unmounting) closes the connection
 * only; the run goes on on the server, as with the stock transport, and stays resumable.
 * Cancelling the run is a separate call: `cancelRun(transport.getState(chatId).resumeUrl)` from
 * `@durastream/client` next to `stop()` (or an endpoint with `cancelOnDisconnect`, which cancels
 * when its connection closes). There is no `close()`: one transport serves many chats, and each
 * chat's `stop()` closes its own connections.
 *
 * Browser-safe: this subpath imports `@durastream/client`, `@durastream/protocol` and types of `ai`,
 * never server code.
 *
 * @example
 * ```tsx
 * "use client";
 * import { useChat } from "@ai-sdk/react";
 * import { createDurableChatTransport } from "@durastream/ai/client";
 *
 * const transport = createDurableChatTransport({ api: "/api/chat" });
 *
 * export function Chat({ id }: { id: string }) {
 *   const { messages, sendMessage, status } = useChat({ id, transport, resume: true });
 *   // …
 * }
 * ```
 */
export function createDurableChatTransport<UI_MESSAGE extends UIMessage = UIMessage>(
  options: DurableChatTransportOptions<UI_MESSAGE> = {},
): DurableChatTransport<UI_MESSAGE> {
  const api = options.api ?? DEFAULT_API;
  const resumeRoute = options.resumeRoute ?? ((chatId: string) => `${api}/${encodeURIComponent(chatId)}/stream`);
  const memory = new ChatRunMemory(options.storage, options.storageKeyPrefix);
  /** Each chat's latest response (what `getState` shows). */
  const current = new Map<string, ChatResponse>();
  const listeners = new Map<string, Set<() => void>>();

  const notify = (chatId: string): void => {
    for (const listener of listeners.get(chatId) ?? []) {
      try {
        listener();
      } catch (failure) {
        // A listener's bug must not break the stream (or the other listeners): surface it apart.
        queueMicrotask(() => {
          throw failure;
        });
      }
    }
  };

  /** A response for `chatId`; shown by `getState` from the start, or (`showAtOnce: false`) once it streams. */
  const respond = async (
    chatId: string,
    url: string,
    fetchOpts: RequestInit,
    begin: (response: ChatResponse) => Promise<void>,
    showAtOnce: boolean,
  ): Promise<ReadableStream<UIMessageChunk> | DurableStreamSnapshot<UIMessageChunk>> => {
    const response: ChatResponse = new ChatResponse({
      url,
      fetch: options.fetch,
      fetchOpts,
      reconnect: options.reconnect,
      onMetadata: ({ runId, resumeUrl }) => {
        if (resumeUrl !== null) memory.set(chatId, { runId, resumeUrl });
      },
      onRedirect: (redirectUrl) => {
        const { runId } = response.durable.getSnapshot();
        if (runId !== null) memory.set(chatId, { runId, resumeUrl: redirectUrl });
      },
      onChange: () => {
        if (current.get(chatId) === response) notify(chatId);
      },
      onEnd: (snapshot) => {
        // Over (its result arrived) or gone: nothing to resume any more.
        if (snapshot.runId !== null && (snapshot.result !== null || isGone(snapshot.error))) memory.delete(chatId, snapshot.runId);
      },
    });
    const show = (): void => {
      current.set(chatId, response);
      notify(chatId);
    };
    if (showAtOnce) show();
    const opening = await response.open(() => begin(response));
    if (opening === "settled") return response.durable.getSnapshot();
    if (!showAtOnce) show();
    return response.body;
  };

  return {
    resumeStreamIsReplay: true,

    async sendMessages({ abortSignal, chatId, messages, trigger, messageId, ...request }) {
      const [resolvedBody, resolvedHeaders, resolvedCredentials] = await Promise.all([
        resolveValue(options.body),
        resolveValue(options.headers),
        resolveValue(options.credentials),
      ]);
      const baseHeaders = headerRecord(resolvedHeaders, request.headers);
      const prepared = await options.prepareSendMessagesRequest?.({
        api,
        id: chatId,
        messages,
        body: { ...resolvedBody, ...request.body },
        headers: baseHeaders,
        credentials: resolvedCredentials,
        requestMetadata: request.metadata,
        trigger,
        messageId,
      });
      const url = prepared?.api ?? api;
      const body = prepared?.body ?? { ...resolvedBody, ...request.body, id: chatId, messages, trigger, messageId };
      const credentials = prepared?.credentials ?? resolvedCredentials;
      const fetchOpts: RequestInit = {
        method: "POST",
        headers: { "content-type": "application/json", ...(prepared?.headers === undefined ? baseHeaders : headerRecord(prepared.headers)) },
        body: JSON.stringify(body),
        signal: abortSignal ?? null,
        ...(credentials === undefined ? {} : { credentials }),
      };
      const outcome = await respond(chatId, url, fetchOpts, (response) => response.durable.start(), true);
      if (outcome instanceof ReadableStream) return outcome;
      throw openingError(outcome, url);
    },

    async reconnectToStream({ chatId, abortSignal, headers }) {
      const run = memory.get(chatId);
      const url = run?.resumeUrl ?? (resumeRoute === false ? undefined : resumeRoute(chatId));
      if (url === undefined) return null;
      const [resolvedHeaders, credentials] = await Promise.all([resolveValue(options.headers), resolveValue(options.credentials)]);
      const fetchOpts: RequestInit = {
        headers: headerRecord(resolvedHeaders, headers),
        signal: abortSignal ?? null,
        ...(credentials === undefined ? {} : { credentials }),
      };
      // From the start of the log: a reloaded page has none of the message (`resumeStreamIsReplay`).
      const outcome = await respond(chatId, url, fetchOpts, (response) => response.durable.resume({ resumeUrl: url }), false);
      if (outcome instanceof ReadableStream) return outcome;
      if (run === undefined ? isNothingToResume(outcome.error) : isGone(outcome.error)) {
        if (run !== undefined) memory.delete(chatId, run.runId);
        return null;
      }
      throw openingError(outcome, url);
    },

    getState: (chatId) => current.get(chatId)?.getState() ?? IDLE_CHAT_STATE,

    async cancel(chatId) {
      const shown = current.get(chatId)?.getState();
      const remembered = memory.get(chatId);
      const resumeUrl = shown?.resumeUrl ?? remembered?.resumeUrl ?? null;
      if (resumeUrl === null) return false;
      const [resolvedHeaders, credentials] = await Promise.all([resolveValue(options.headers), resolveValue(options.credentials)]);
      const cancelled = await cancelRun(resumeUrl, {
        headers: headerRecord(resolvedHeaders),
        ...(credentials === undefined ? {} : { credentials }),
        ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      });
      for (const runId of [shown?.runId, remembered?.runId]) if (runId != null) memory.delete(chatId, runId);
      return cancelled;
    },

    subscribe(chatId, listener) {
      let set = listeners.get(chatId);
      if (set === undefined) listeners.set(chatId, (set = new Set()));
      const entry = (): void => listener();
      set.add(entry);
      return () => {
        set.delete(entry);
        if (set.size === 0 && listeners.get(chatId) === set) listeners.delete(chatId);
      };
    },
  };
}
