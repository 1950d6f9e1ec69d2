import type { Redis } from "ioredis";

/** How the subscriptions reach Redis. */
export interface SubscriptionsOptions {
  /** Opens the one subscriber connection (called on the first subscription). */
  readonly connect: () => Redis;
  /** The channel of a run's notifications. */
  readonly channelOf: (runId: string) => string;
  /**
   * Reads, on the command connection, what a notification would change (log length, status,
   * wakeAt). Called when a run's first listener subscribes, before and after the SUBSCRIBE takes
   * effect: when the two differ, a write slipped in between and the listeners are called.
   */
  readonly probe: (runId: string) => Promise<string>;
}

/**
 * The live-tail notifications of one store instance: ONE subscriber connection, whatever the
 * number of runs and listeners. A run's channel is SUBSCRIBEd when its first local listener
 * arrives and UNSUBSCRIBEd when its last one leaves; each message is fanned out to the local
 * listeners. Local writes call `notify` directly, so a listener may be called twice for one write
 * (harmless: listeners re-read the log).
 *
 * Missed messages: a message published while the subscriber connection is down is lost, so after
 * a reconnection every channel is subscribed again and every listener called. A message published
 * between `subscribe()` and the moment the SUBSCRIBE takes effect is lost too; the probes before
 * and after catch that case.
 */
export class RunSubscriptions {
  readonly #options: SubscriptionsOptions;
  /** channel → listeners. */
  readonly #listeners = new Map<string, Set<() => void>>();
  #subscriber: Redis | undefined;
  #reconnected = false;
  #closed = false;

  constructor(options: SubscriptionsOptions) {
    this.#options = options;
  }

  /** Whether the subscriber connection exists (it is opened by the first subscription). */
  get connection(): Redis | undefined {
    return this.#subscriber;
  }

  subscribe(runId: string, listener: () => void): () => void {
    if (this.#closed) return () => {};
    const channel = this.#options.channelOf(runId);
    let listeners = this.#listeners.get(channel);
    const entry = () => listener();
    if (listeners === undefined) {
      listeners = new Set([entry]);
      this.#listeners.set(channel, listeners);
      this.#subscribeChannel(runId, channel);
    } else {
      listeners.add(entry);
    }
    const set = listeners;
    return () => {
      if (!set.delete(entry) || set.size > 0 || this.#listeners.get(channel) !== set) return;
      this.#listeners.delete(channel);
      this.#subscriber?.unsubscribe(channel).catch(() => {});
    };
  }

  /** Calls the local listeners of a run (after a write through this instance). */
  notify(runId: string): void {
    this.#fanOut(this.#options.channelOf(runId));
  }

  /** Closes the subscriber connection; listeners are forgotten. */
  close(): void {
    this.#closed = true;
    this.#listeners.clear();
    this.#subscriber?.disconnect();
    this.#subscriber = undefined;
  }

  #subscribeChannel(runId: string, channel: string): void {
    const subscriber = this.#connection();
    // Sent on the command connection now, so before any read the caller makes after subscribing.
    const before = this.#options.probe(runId).catch(() => undefined);
    subscriber.subscribe(channel).then(
      async () => {
        const [first, second] = await Promise.all([before, this.#options.probe(runId).catch(() => undefined)]);
        if (first === undefined || second === undefined || first !== second) this.#fanOut(channel);
      },
      () => {
        // The subscriber is down; it subscribes every channel again when it reconnects.
      },
    );
  }

  #connection(): Redis {
    if (this.#subscriber !== undefined) return this.#subscriber;
    const subscriber = this.#options.connect();
    subscriber.on("error", () => {
      // Reconnection is automatic; the command connection reports outages to callers.
    });
    subscriber.on("message", (channel: string) => this.#fanOut(channel));
    subscriber.on("close", () => {
      this.#reconnected = true;
    });
    subscriber.on("ready", () => {
      if (!this.#reconnected) return;
      // Messages published while the connection was down are lost: subscribe again, then wake
      // every listener so that it reads what it missed.
      this.#reconnected = false;
      const channels = [...this.#listeners.keys()];
      if (channels.length === 0) return;
      subscriber.subscribe(...channels).then(
        () => {
          for (const channel of channels) this.#fanOut(channel);
        },
        () => {},
      );
    });
    this.#subscriber = subscriber;
    return subscriber;
  }

  #fanOut(channel: string): void {
    const listeners = this.#listeners.get(channel);
    if (listeners === undefined) return;
    for (const listener of [...listeners]) {
      try {
        listener();
      } catch (error) {
        // A listener's failure must not break the others or the write that notified. Report it.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
