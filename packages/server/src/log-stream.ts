import {
  encodeEvent,
  encodeFrame,
  KEEP_ALIVE_COMMENT,
  type MetadataFrame,
} from "@durastream/protocol";
import { nextTurn } from "./event-loop.js";
import type { RunStore } from "./store/run-store.js";
import type { Timers } from "./timers.js";

/** Frames read from the store per pull; bounds the size of one response chunk. */
const READ_BATCH = 512;

/** Options of a log stream. */
export interface LogStreamOptions {
  readonly store: RunStore;
  readonly runId: string;
  /** Replay strictly after this offset; from the start when undefined. */
  readonly after: string | undefined;
  /** Sent first. */
  readonly metadata: MetadataFrame;
  readonly timers: Timers;
  /** Milliseconds of silence before a keep-alive comment. */
  readonly keepAliveInterval: number;
  /** Called once when the reader goes away before the result frame. */
  readonly onCancel?: (reason: unknown) => void;
}

const encoder = new TextEncoder();

/**
 * An SSE byte stream of one run's log: the metadata frame, every frame after `after`, then live
 * frames as they are appended, until the result frame. Pull-based, so a slow client holds back
 * reads from the store instead of piling frames up in memory; frames that arrive together go out as
 * one chunk.
 */
export function createLogStream(options: LogStreamOptions): ReadableStream<Uint8Array> {
  const { store, runId, timers, keepAliveInterval, onCancel } = options;
  let cursor = options.after;
  let appended = true;
  let wake: (() => void) | null = null;
  let done = false;
  const unsubscribe = store.subscribe(runId, () => {
    appended = true;
    const resolve = wake;
    wake = null;
    resolve?.();
  });
  const close = () => {
    done = true;
    unsubscribe();
    const resolve = wake;
    wake = null;
    resolve?.();
  };

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        controller.enqueue(encoder.encode(encodeFrame(options.metadata)));
      },
      async pull(controller) {
        for (;;) {
          if (done) return;
          appended = false;
          const entries = await store.readFrames(runId, cursor, READ_BATCH);
          if (done) return;
          if (entries.length > 0) {
            let text = "";
            let finished = false;
            for (const entry of entries) {
              text += encodeEvent(entry.type, entry.offset, entry.payload);
              if (entry.type === "result") {
                finished = true;
                break;
              }
            }
            cursor = entries[entries.length - 1]!.offset;
            controller.enqueue(encoder.encode(text));
            if (finished) {
              close();
              controller.close();
            }
            return;
          }
          if (appended) continue;
          const woke = await new Promise<boolean>((resolve) => {
            const timer = timers.setTimeout(() => {
              wake = null;
              resolve(false);
            }, keepAliveInterval);
            wake = () => {
              timers.clearTimeout(timer);
              resolve(true);
            };
          });
          if (!woke && !done) {
            controller.enqueue(encoder.encode(KEEP_ALIVE_COMMENT));
            return;
          }
          // Let the rest of this turn's frames arrive, then send them in one chunk.
          await nextTurn();
        }
      },
      cancel(reason) {
        if (done) return;
        close();
        onCancel?.(reason);
      },
    },
    { highWaterMark: 1 },
  );
}
