import type { UIMessageChunk } from "ai";

/** A UI message stream body being written: one `data:` event per chunk, `[DONE]` at the end. */
export interface UIMessageSseWriter {
  /** The response body. */
  readonly body: ReadableStream<Uint8Array>;
  /** Writes one chunk as `data: {json}\n\n`. Ignored once the body is closed or cancelled. */
  write(chunk: UIMessageChunk): void;
  /** Writes `data: [DONE]\n\n` and closes the body. */
  end(): void;
  /** Closes the body without `[DONE]` (e.g. the reader went away). */
  close(): void;
  /**
   * `undefined` while the body's queue has room (or the body is closed); else a promise that
   * resolves once the reader took enough of it. For pacing the producer to a slow reader.
   */
  ready(): Promise<void> | undefined;
}

const encoder = new TextEncoder();
const DONE = encoder.encode("data: [DONE]\n\n");
const KEEP_ALIVE = encoder.encode(": keep-alive\n\n");

/** Bytes the body queues for a slow reader before {@link UIMessageSseWriter.ready} makes the producer wait. */
const HIGH_WATER_MARK = 64 * 1024;

/**
 * The body of a UI message stream response, as the AI SDK's `JsonToSseTransformStream` writes it,
 * with an SSE comment (`: keep-alive`) after every `keepAliveInterval` ms in which nothing was
 * written, so proxies keep an idle connection (a run waiting out a retry backoff, a sleep) open.
 * `onCancel` runs when the reader cancels the body (the client went away). Internal.
 */
export function createUIMessageSseWriter(options: { keepAliveInterval: number; onCancel: (reason: unknown) => void }): UIMessageSseWriter {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  let wrote = false;
  let roomWaiter: (() => void) | undefined;
  const timer = setInterval(() => {
    if (!wrote) enqueue(KEEP_ALIVE);
    wrote = false;
  }, options.keepAliveInterval);
  (timer as { unref?: () => void }).unref?.();

  const room = (): void => {
    const resolve = roomWaiter;
    roomWaiter = undefined;
    resolve?.();
  };
  const finish = (): void => {
    closed = true;
    clearInterval(timer);
    room();
  };
  const enqueue = (bytes: Uint8Array): void => {
    if (closed) return;
    controller.enqueue(bytes);
    wrote = true;
  };
  const close = (): void => {
    if (closed) return;
    finish();
    controller.close();
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start(streamController) {
        controller = streamController;
      },
      pull() {
        room(); // the reader took enough: the queue is below the high-water mark
      },
      cancel(reason) {
        finish();
        options.onCancel(reason);
      },
    },
    { highWaterMark: HIGH_WATER_MARK, size: (chunk) => chunk.byteLength },
  );
  return {
    body,
    write(chunk) {
      enqueue(encoder.encode(`data: ${JSON.stringify(chunk)}\n\n`));
    },
    end() {
      enqueue(DONE);
      close();
    },
    close,
    ready() {
      if (closed || (controller.desiredSize ?? 1) > 0) return undefined;
      return new Promise<void>((resolve) => {
        const previous = roomWaiter;
        roomWaiter = () => {
          previous?.();
          resolve();
        };
      });
    },
  };
}

/**
 * `response` with its body read only while `writer` has room: the in-process durable stream is
 * read at the pace of the stock client, so a slow client does not make the projection buffer
 * the run's output. A response that is not an event stream (an error, a `303`) is returned as is.
 */
export function pacedResponse(response: Response, writer: UIMessageSseWriter): Response {
  const source = response.body;
  if (source === null || !(response.headers.get("content-type") ?? "").startsWith("text/event-stream")) return response;
  const reader = source.getReader();
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        await writer.ready();
        const { value, done } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}
