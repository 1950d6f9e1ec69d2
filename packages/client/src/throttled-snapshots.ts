import { isActiveStatus } from "./durable-stream-status.js";
import type { DurableStream, DurableStreamSnapshot } from "./durable-stream-types.js";
import { createSubscribable } from "./subscribable.js";

/**
 * A durable stream's snapshots, published at most once per interval while a run is in progress,
 * for UIs that should not render at every frame: `subscribe`/`getSnapshot` like the stream's own
 * (the pair React's `useSyncExternalStore` takes). Made by `throttleSnapshots`.
 *
 * @example
 * ```ts
 * const snapshots: ThrottledSnapshots<string, unknown> = throttleSnapshots(stream, 50);
 * const stop = snapshots.subscribe(() => render(snapshots.getSnapshot()));
 * ```
 */
export interface ThrottledSnapshots<T = unknown, R = unknown> {
  /**
   * Calls `listener` after every publication; returns the unsubscribe function. The stream is
   * listened to while there is at least one listener; the first one catches up with changes made
   * while nobody listened.
   */
  subscribe(listener: () => void): () => void;
  /** The snapshot published last: the same object between publications. */
  getSnapshot(): DurableStreamSnapshot<T, R>;
}

/**
 * Throttles the snapshots of `stream`: while frames flow, the first change after a quiet period is
 * published at once (leading) and later ones together at the end of the interval (trailing). A
 * status change, and every change once no run is in progress (`idle`, `succeeded`, `failed`,
 * `aborted`), are published at once, so the final state is never held back. An interval of `0`
 * (or less) publishes every change.
 *
 * `throttleMs` is a number of milliseconds, or a function read at every change (so a UI binding
 * can change it between renders). `useDurableStream` renders through this; other frameworks (or
 * plain DOM code) can use it the same way.
 *
 * @example
 * ```ts
 * const stream = createDurableStream<string>({ url: "/api/chat", fetchOpts: { method: "POST" } });
 * const snapshots = throttleSnapshots(stream, 50); // at most 20 renders a second while streaming
 * snapshots.subscribe(() => {
 *   const { committedText, uncommittedText } = snapshots.getSnapshot();
 *   output.textContent = committedText + uncommittedText;
 * });
 * await stream.start({ body: JSON.stringify({ prompt: "Hi" }) });
 * ```
 */
export function throttleSnapshots<T, R>(stream: DurableStream<T, R>, throttleMs: number | (() => number)): ThrottledSnapshots<T, R> {
  const interval = typeof throttleMs === "function" ? throttleMs : () => throttleMs;
  const listeners = createSubscribable();
  let published = stream.getSnapshot();
  let publishedAt = -Infinity;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let unsubscribeStream: (() => void) | undefined;

  const stopTimer = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  const publish = (): void => {
    stopTimer();
    const next = stream.getSnapshot();
    if (next === published) return;
    published = next;
    publishedAt = Date.now();
    listeners.notify();
  };
  const onStreamChange = (): void => {
    const wait = interval();
    const { status } = stream.getSnapshot();
    if (!(wait > 0) || status !== published.status || !isActiveStatus(status)) {
      publish();
      return;
    }
    if (timer !== undefined) return;
    const elapsed = Date.now() - publishedAt;
    if (elapsed >= wait) publish();
    else timer = setTimeout(publish, wait - elapsed);
  };

  return {
    getSnapshot: () => published,
    subscribe(listener) {
      const unsubscribe = listeners.subscribe(listener);
      if (unsubscribeStream === undefined) {
        // Catch up with changes made while nobody listened (React compares after subscribing).
        published = stream.getSnapshot();
        publishedAt = -Infinity;
        unsubscribeStream = stream.subscribe(onStreamChange);
      }
      return () => {
        unsubscribe();
        // The last listener gone (a repeated call finds the stream unsubscribed already): stop listening.
        if (listeners.size > 0) return;
        unsubscribeStream?.();
        unsubscribeStream = undefined;
        stopTimer();
      };
    },
  };
}
