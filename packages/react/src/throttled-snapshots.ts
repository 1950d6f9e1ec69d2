import type { DurableStream, DurableStreamSnapshot, DurableStreamStatus } from "@durastream/client";

/**
 * A store's snapshots, published at most once per `throttleMs` while frames flow: the first change
 * after a quiet period at once (leading), later ones together at the end of the period (trailing).
 * A status change, and the end of a stream (idle, succeeded, failed, aborted), are published at
 * once, so the last state always renders. The `subscribe`/`getSnapshot` pair for
 * `useSyncExternalStore`. Internal.
 *
 * @example
 * ```ts
 * const source = throttleSnapshots(store, () => 50);
 * const snapshot = useSyncExternalStore(source.subscribe, source.getSnapshot, () => initial);
 * ```
 */
export interface ThrottledSnapshots<T, R> {
  subscribe(onChange: () => void): () => void;
  /** The snapshot published last: the same object between publications. */
  getSnapshot(): DurableStreamSnapshot<T, R>;
}

/**
 * Creates `ThrottledSnapshots` over `store`; `throttleMs()` is read at every change, so it may change.
 *
 * @example
 * ```ts
 * let throttleMs = 50;
 * const source = throttleSnapshots(store, () => throttleMs);
 * ```
 */
export function throttleSnapshots<T, R>(store: DurableStream<T, R>, throttleMs: () => number): ThrottledSnapshots<T, R> {
  let published = store.getSnapshot();
  return {
    getSnapshot: () => published,
    subscribe(onChange) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let publishedAt = -Infinity;
      const publish = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
        const next = store.getSnapshot();
        if (next === published) return;
        published = next;
        publishedAt = Date.now();
        onChange();
      };
      // Catch up with changes made while nobody listened (React compares after subscribing).
      published = store.getSnapshot();
      const unsubscribe = store.subscribe(() => {
        const wait = throttleMs();
        const { status } = store.getSnapshot();
        if (!(wait > 0) || status !== published.status || !isStreaming(status)) {
          publish();
          return;
        }
        if (timer !== undefined) return;
        const elapsed = Date.now() - publishedAt;
        if (elapsed >= wait) publish();
        else timer = setTimeout(publish, wait - elapsed);
      });
      return () => {
        unsubscribe();
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
      };
    },
  };
}

function isStreaming(status: DurableStreamStatus): boolean {
  return status === "connecting" || status === "streaming" || status === "waiting" || status === "reconnecting";
}
