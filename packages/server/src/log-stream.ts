import {
  encodeEvent,
  encodeFrame,
  KEEP_ALIVE_COMMENT,
  type MetadataFrame,
  type RedirectReason,
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
  /**
   * Where to send the client when this connection must end before the result: when `onSwitch`
   * reports that the run switched to the background, or after `maxDuration` ms. Frames already in
   * the log are sent first, then a redirect frame, then the stream closes.
   */
  readonly redirect?: {
    readonly url: string;
    readonly onSwitch?: (listener: (reason: RedirectReason) => void) => () => void;
    readonly maxDuration: number;
  };
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
  let redirectReason: RedirectReason | null = null;
  const wakeUp = () => {
    const resolve = wake;
    wake = null;
    resolve?.();
  };
  const unsubscribe = store.subscribe(runId, () => {
    appended = true;
    wakeUp();
  });
  const switchTo = (reason: RedirectReason) => {
    redirectReason ??= reason;
    wakeUp();
  };
  const stopSwitchListener = options.redirect?.onSwitch?.(switchTo);
  const maxDuration = options.redirect?.maxDuration ?? Number.POSITIVE_INFINITY;
  const durationTimer = Number.isFinite(maxDuration) ? timers.setTimeout(() => switchTo("max-duration"), maxDuration) : undefined;
  // One keep-alive timer per connection, re-armed lazily: a busy stream does not set and clear a
  // timer for every batch it sends.
  let lastSent = timers.now();
  let keepAliveDue = false;
  let keepAliveTimer: unknown;
  const armKeepAlive = (delay: number) => {
    keepAliveTimer = timers.setTimeout(() => {
      if (done) return;
      const idle = timers.now() - lastSent;
      if (idle >= keepAliveInterval) {
        keepAliveDue = true;
        wakeUp();
        armKeepAlive(keepAliveInterval);
      } else {
        armKeepAlive(keepAliveInterval - idle);
      }
    }, delay);
  };
  armKeepAlive(keepAliveInterval);
  const close = () => {
    done = true;
    unsubscribe();
    stopSwitchListener?.();
    if (durationTimer !== undefined) timers.clearTimeout(durationTimer);
    timers.clearTimeout(keepAliveTimer);
    wakeUp();
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
            lastSent = timers.now();
            if (finished) {
              close();
              controller.close();
            }
            return;
          }
          if (appended) continue;
          if (redirectReason !== null && options.redirect !== undefined) {
            controller.enqueue(encoder.encode(encodeFrame({ type: "redirect", url: options.redirect.url, reason: redirectReason })));
            close();
            controller.close();
            return;
          }
          if (keepAliveDue) {
            keepAliveDue = false;
            controller.enqueue(encoder.encode(KEEP_ALIVE_COMMENT));
            lastSent = timers.now();
            return;
          }
          await new Promise<void>((resolve) => (wake = resolve));
          // Let the rest of this turn's frames arrive, then send them in one chunk.
          if (redirectReason === null && !keepAliveDue && !done) await nextTurn();
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
