import { splitAwkwardly } from "./awkward-chunks.js";
import { deferred } from "./deferred.js";

/** A response body a test writes to as it goes, and whose cancellation it can await. */
export interface ControlledStream {
  readonly stream: ReadableStream<Uint8Array>;
  /** Enqueues `text` split into awkward chunks. */
  send(text: string): void;
  close(): void;
  fail(error: unknown): void;
  /** Resolves with the reason when the stream is cancelled. */
  readonly cancelled: Promise<unknown>;
  /** True once cancelled. */
  readonly wasCancelled: () => boolean;
}

/**
 * Creates a `ControlledStream`.
 *
 * @example
 * ```ts
 * const body = controlledStream();
 * body.send(sse(metadata));
 * await body.cancelled;
 * ```
 */
export function controlledStream(): ControlledStream {
  const cancelled = deferred<unknown>();
  let isCancelled = false;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(streamController) {
      controller = streamController;
    },
    cancel(reason) {
      isCancelled = true;
      cancelled.resolve(reason);
    },
  });
  return {
    stream,
    send(text) {
      for (const chunk of splitAwkwardly(text)) controller.enqueue(chunk);
    },
    close: () => controller.close(),
    fail: (error) => controller.error(error),
    cancelled: cancelled.promise,
    wasCancelled: () => isCancelled,
  };
}
