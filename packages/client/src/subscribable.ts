/**
 * A set of listeners with `subscribe` and `notify`: the listener fan-out behind the stores'
 * `subscribe` methods. Internal.
 *
 * - `subscribe(listener)` adds the listener and returns its unsubscribe function. Subscribing the
 *   same function twice adds it twice (two calls per notification); each unsubscribe function
 *   removes its own subscription, once (calling it again does nothing).
 * - `notify(value)` calls the listeners synchronously, in subscription order, without copying
 *   them: a listener unsubscribed during a notification (by itself or another listener) is not
 *   called if it has not been yet; one subscribed during it is called in that same notification.
 * - A listener that throws does not keep the others from the notification: its error is rethrown
 *   in a microtask (so it reaches the host's error reporting), and `notify` returns normally.
 */
export interface Subscribable<T> {
  /** Adds `listener`; returns the function that removes it. */
  subscribe(listener: (value: T) => void): () => void;
  /** Calls every listener with `value`. */
  notify(value: T): void;
  /** How many subscriptions there are. */
  readonly size: number;
}

/** Creates an empty `Subscribable`. */
export function createSubscribable<T = void>(): Subscribable<T> {
  // One entry per subscription (not per function), so that subscribing a function twice is two
  // subscriptions, each removed by its own unsubscribe function.
  const entries = new Set<{ readonly listener: (value: T) => void }>();
  return {
    subscribe(listener) {
      const entry = { listener };
      entries.add(entry);
      return () => {
        entries.delete(entry);
      };
    },
    notify(value) {
      // A Set iterates live: deletions and additions during the loop are seen, and nothing is copied.
      for (const entry of entries) {
        try {
          entry.listener(value);
        } catch (failure) {
          // A listener's bug must not break the notifier (or the other listeners): surface it apart.
          queueMicrotask(() => {
            throw failure;
          });
        }
      }
    },
    get size() {
      return entries.size;
    },
  };
}
