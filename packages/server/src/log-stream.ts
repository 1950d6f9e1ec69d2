import {
  encodeEvent,
  encodeFrame,
  KEEP_ALIVE_COMMENT,
  type MetadataFrame,
  type RedirectReason,
} from "@durastream/protocol";
import { nextTurn } from "./event-loop.js";
import type { RunStore } from "./store/run-store.js";
import type { TextBodySource } from "./text-body.js";
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
 * One run's log as SSE text: the metadata frame, every frame after `after`, then live frames as
 * they are appended, until the result frame. Read it as a Web stream (`stream`) or, in the Node
 * adapter, piece by piece as text (`source`); whichever is read first owns it. Pull-based, so a
 * slow client holds back reads from the store instead of piling frames up in memory; frames that
 * arrive together go out as one piece.
 */
export function createLogStream(options: LogStreamOptions): { readonly stream: ReadableStream<Uint8Array>; readonly source: TextBodySource } {
  const source = createLogSource(options);
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const text = await source.next();
        if (text === null) controller.close();
        else controller.enqueue(encoder.encode(text));
      },
      cancel(reason) {
        source.cancel(reason);
      },
    },
    // Nothing is read ahead: a piece is taken from the log only when the reader asks for one, so a
    // body read as text instead never has a piece taken by the stream.
    { highWaterMark: 0 },
  );
  return { stream, source };
}

/** The log as text pieces; see {@link createLogStream}. */
function createLogSource(options: LogStreamOptions): TextBodySource {
  const { store, runId, timers, keepAliveInterval, onCancel } = options;
  let cursor = options.after;
  let appended = true;
  let wake: (() => void) | null = null;
  let done = false;
  let metadataSent = false;
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

  return {
    async next() {
      if (!metadataSent) {
        metadataSent = true;
        return encodeFrame(options.metadata);
      }
      for (;;) {
        if (done) return null;
        appended = false;
        const entries = await store.readFrames(runId, cursor, READ_BATCH);
        if (done) return null;
        if (entries.length > 0) {
          let text = "";
          for (const entry of entries) {
            text += encodeEvent(entry.type, entry.offset, entry.payload);
            if (entry.type === "result") {
              close();
              break;
            }
          }
          cursor = entries[entries.length - 1]!.offset;
          lastSent = timers.now();
          return text;
        }
        if (appended) continue;
        if (redirectReason !== null && options.redirect !== undefined) {
          close();
          return encodeFrame({ type: "redirect", url: options.redirect.url, reason: redirectReason });
        }
        if (keepAliveDue) {
          keepAliveDue = false;
          lastSent = timers.now();
          return KEEP_ALIVE_COMMENT;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        // Let the rest of this turn's frames arrive, then send them in one piece.
        if (redirectReason === null && !keepAliveDue && !done) await nextTurn();
      }
    },
    cancel(reason) {
      if (done) return;
      close();
      onCancel?.(reason);
    },
  };
}
