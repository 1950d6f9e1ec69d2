import {
  createDurableStream,
  type DurableStream,
  type DurableStreamOptions,
  type DurableStreamSnapshot,
  type DurableStreamStatus,
  type HashedStepId,
  type StreamMetadata,
} from "@durastream/client";
import type { UIMessageChunk } from "ai";
import { UIChunkProjection } from "../chat/ui-chunk-projection.js";

/**
 * What a durable chat transport shows about one chat's latest response, for rendering committed
 * and uncommitted output apart (e.g. the uncommitted tail dimmed while a model call may still be
 * retried). Immutable; {@link DurableChatTransport.getState} returns the same object until
 * something changed, so it fits React's `useSyncExternalStore`.
 *
 * @example
 * ```ts
 * const { status, committedText, uncommittedText } = transport.getState(chatId);
 * render(`${escape(committedText)}<span class="dim">${escape(uncommittedText)}</span>`, status);
 * ```
 */
export interface DurableChatState {
  /**
   * Where the response is: `idle` (no request yet), `connecting`, `streaming`, `waiting` (the run
   * went to the background: a retry backoff, a sleep), `reconnecting` (a connection dropped),
   * `succeeded` / `failed` (the run's result arrived, or the stream failed for good), `aborted`
   * (the chat's `stop()`: the connection closed, the run goes on). As in `createDurableStream`;
   * `isActiveStatus` from `@durastream/client` tells the busy ones.
   */
  readonly status: DurableStreamStatus;
  /** The run's id, once its metadata arrived. */
  readonly runId: string | null;
  /** Where the run can be read again (the wait endpoint's URL, with its token), once the server named it. */
  readonly resumeUrl: string | null;
  /** The text of the committed `text-delta` chunks: final, never retracted. */
  readonly committedText: string;
  /** The text of the `text-delta` chunks of steps that have not committed: gone again if the step rolls back. */
  readonly uncommittedText: string;
  /** Why the stream failed (a `DurableClientError`), or the abort reason; otherwise `null`. */
  readonly error: Error | null;
}

/** The state of a chat that has sent nothing yet. */
export const IDLE_CHAT_STATE: DurableChatState = Object.freeze({
  status: "idle",
  runId: null,
  resumeUrl: null,
  committedText: "",
  uncommittedText: "",
  error: null,
});

/** How a response's stream opened: its run's metadata arrived, or it settled before (see the snapshot). */
type ChatResponseOpening = "streaming" | "settled";

/** What a {@link ChatResponse} needs besides the durable stream's own options. */
interface ChatResponseOptions extends Pick<DurableStreamOptions, "url" | "fetch" | "fetchOpts" | "reconnect"> {
  /** The run's metadata arrived (the first time, or on a redirect to another run). */
  onMetadata: (metadata: StreamMetadata) => void;
  /** The server redirected to `url`, a newer URL of the same run. */
  onRedirect: (url: string) => void;
  /** The state changed: text, status, run id or error. */
  onChange: () => void;
  /** The stream ended (succeeded, failed or aborted), with its final snapshot; called before `body` ends. */
  onEnd: (snapshot: DurableStreamSnapshot<UIMessageChunk>) => void;
}

function isTextDelta(data: unknown): data is { type: "text-delta"; delta: string } {
  const chunk = data as { type?: unknown; delta?: unknown } | null;
  return typeof chunk === "object" && chunk !== null && chunk.type === "text-delta" && typeof chunk.delta === "string";
}

/** The text of a run's final response, for the `error` chunk of a failed run. */
function errorTextOf(snapshot: DurableStreamSnapshot<UIMessageChunk>): string {
  const result = snapshot.result;
  if (result === null) return snapshot.error?.message ?? "The chat run failed.";
  const text = typeof result.body === "string" ? result.body : JSON.stringify(result.body);
  return text.trim() === "" ? `The chat run ended with HTTP ${result.status}.` : text;
}

/**
 * One response of the transport: a `createDurableStream` store (a `POST` through `fetchWithStream`,
 * or a replay through `resumeStream`) whose frames become UI message chunks with the shared
 * {@link UIChunkProjection}, plus the committed and uncommitted text for
 * {@link DurableChatTransport.getState}. Internal.
 */
export class ChatResponse {
  readonly durable: DurableStream<UIMessageChunk>;
  /** The UI message chunks, for the chat. Cancelling it aborts the connection (never the run). */
  readonly body: ReadableStream<UIMessageChunk>;
  readonly #options: ChatResponseOptions;
  readonly #projection: UIChunkProjection;
  #controller!: ReadableStreamDefaultController<UIMessageChunk>;
  #ended = false;
  #opened: (() => void) | undefined;
  #committedText = "";
  readonly #pending = new Map<HashedStepId, string>();
  #textChanged = false;
  #source: DurableStreamSnapshot<UIMessageChunk> | undefined;
  #state: DurableChatState = IDLE_CHAT_STATE;
  #relayed: DurableStreamSnapshot<UIMessageChunk> | undefined;

  constructor(options: ChatResponseOptions) {
    this.#options = options;
    this.#projection = new UIChunkProjection((chunk) => {
      if (!this.#ended) this.#controller.enqueue(chunk);
    });
    this.body = new ReadableStream<UIMessageChunk>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: (reason) => {
        this.#ended = true;
        this.durable.abort(reason);
      },
    });
    this.durable = createDurableStream<UIMessageChunk>({
      url: options.url,
      fetch: options.fetch,
      fetchOpts: options.fetchOpts,
      reconnect: options.reconnect,
      onMetadata: (metadata) => {
        options.onMetadata(metadata);
        this.#opened?.();
      },
      onData: ({ hashedStepId, data }) => {
        if (isTextDelta(data)) {
          this.#pending.set(hashedStepId, (this.#pending.get(hashedStepId) ?? "") + data.delta);
          this.#textChanged = true;
        }
        this.#projection.data(hashedStepId, data);
        options.onChange();
      },
      onCommit: ({ hashedStepId }) => {
        const text = this.#pending.get(hashedStepId);
        if (text !== undefined) {
          this.#pending.delete(hashedStepId);
          this.#committedText += text;
          this.#textChanged = true;
        }
        this.#projection.commit(hashedStepId);
        options.onChange();
      },
      onRollback: ({ hashedStepId, willRetry }) => {
        if (this.#pending.delete(hashedStepId)) this.#textChanged = true;
        this.#projection.rollback(hashedStepId, willRetry);
        options.onChange();
      },
      onRedirect: ({ url }) => options.onRedirect(url),
    });
    // Status, run id and error changes that come without a frame (connecting, waiting,
    // reconnecting, the end); frames notify from their callbacks, once the text is updated.
    this.durable.subscribe(() => {
      const source = this.durable.getSnapshot();
      const last = this.#relayed;
      this.#relayed = source;
      if (last === undefined || last.status !== source.status || last.runId !== source.runId || last.error !== source.error) options.onChange();
    });
  }

  /**
   * Starts the stream with `begin` (the store's `start()` or `resume()`), and resolves once the
   * run's metadata arrived (`streaming`: `body` has the run's chunks) or the stream settled before
   * (`settled`: not a durable stream, an HTTP error, a network failure, an abort — see
   * `durable.getSnapshot()`). `body` ends when the stream does: closed after the run's result (a
   * failed run first sends one `error` chunk with its response's text), errored with the stream's
   * error or the abort reason.
   */
  async open(begin: (durable: DurableStream<UIMessageChunk>) => Promise<void>): Promise<ChatResponseOpening> {
    const opened = new Promise<"streaming">((resolve) => {
      this.#opened = () => resolve("streaming");
    });
    const done = begin(this.durable);
    // A rejection reaches the caller through the race below; this branch only must not be unhandled.
    void done
      .then(() => {
        this.#options.onEnd(this.durable.getSnapshot());
        this.#end();
      })
      .catch(() => {});
    return Promise.race([opened, done.then(() => "settled" as const)]);
  }

  /** The state for `getState`: the same object until the store's snapshot or the text changed. */
  getState(): DurableChatState {
    const source = this.durable.getSnapshot();
    if (source === this.#source && !this.#textChanged) return this.#state;
    this.#source = source;
    this.#textChanged = false;
    let uncommittedText = "";
    for (const text of this.#pending.values()) uncommittedText += text;
    this.#state = Object.freeze({
      status: source.status,
      runId: source.runId,
      resumeUrl: source.resumeUrl,
      committedText: this.#committedText,
      uncommittedText,
      error: source.error,
    });
    return this.#state;
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const snapshot = this.durable.getSnapshot();
    if (snapshot.status === "succeeded") {
      this.#controller.close();
    } else if (snapshot.status === "failed" && snapshot.result !== null) {
      this.#controller.enqueue({ type: "error", errorText: errorTextOf(snapshot) });
      this.#controller.close();
    } else {
      this.#controller.error(snapshot.error ?? new Error("The chat stream ended without the run's result."));
    }
  }
}
