import type { Redis } from "ioredis";
import { UNAVAILABLE_AFTER, translateError, unavailableError } from "./connection.js";

const WATCHDOG_INTERVAL = 250;

/**
 * Runs the store's Redis operations on its command connection: connection failures become a
 * `DurableError` `STORE_UNAVAILABLE` (naming where Redis was expected and what to check), and a
 * watchdog rejects the operations still pending once the connection has not been ready for
 * `UNAVAILABLE_AFTER` milliseconds (ioredis would keep some of them waiting indefinitely, e.g. on
 * a connection that opens but never completes its handshake).
 */
export class ConnectionGuard {
  readonly #client: Redis;
  readonly #where: string;
  /** Rejecters of the operations in flight. */
  readonly #pending = new Set<(error: unknown) => void>();
  #lastConnectionError: Error | undefined;
  #downSince: number | undefined;
  #watchdog: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  readonly #onError = (error: Error) => {
    this.#lastConnectionError = error;
  };
  readonly #onDown = () => this.#arm();
  readonly #onReady = () => {
    this.#lastConnectionError = undefined;
    this.#disarm();
  };

  constructor(client: Redis, where: string) {
    this.#client = client;
    this.#where = where;
    client.on("error", this.#onError);
    client.on("close", this.#onDown);
    client.on("reconnecting", this.#onDown);
    client.on("end", this.#onDown);
    client.on("ready", this.#onReady);
    if (client.status !== "ready" && client.status !== "wait") this.#arm();
  }

  /** Runs `operation` (which issues its commands synchronously, in call order) under the guard. */
  run<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(unavailableError(this.#where, "the store was closed"));
    return new Promise<T>((resolve, reject) => {
      let running: Promise<T>;
      try {
        running = operation();
      } catch (error) {
        reject(this.#translate(error));
        return;
      }
      const abandon = (error: unknown) => reject(error);
      this.#pending.add(abandon);
      running.then(
        (value) => {
          this.#pending.delete(abandon);
          resolve(value);
        },
        (error: unknown) => {
          this.#pending.delete(abandon);
          reject(this.#translate(error));
        },
      );
    });
  }

  /** Stops the watchdog and removes the guard's listeners from the client. */
  close(): void {
    this.#closed = true;
    this.#disarm();
    const client = this.#client;
    client.off("error", this.#onError);
    client.off("close", this.#onDown);
    client.off("reconnecting", this.#onDown);
    client.off("end", this.#onDown);
    client.off("ready", this.#onReady);
  }

  #translate(error: unknown): unknown {
    return translateError(error, this.#where, this.#lastConnectionError);
  }

  #arm(): void {
    if (this.#closed || this.#client.status === "ready") return;
    this.#downSince ??= Date.now();
    if (this.#watchdog !== undefined) return;
    this.#watchdog = setInterval(() => {
      if (this.#client.status === "ready") return this.#disarm();
      const downFor = Date.now() - this.#downSince!;
      if (downFor < UNAVAILABLE_AFTER || this.#pending.size === 0) return;
      const last = this.#lastConnectionError;
      const reason = `no connection for ${Math.round(downFor / 1000)} s${last === undefined ? "" : `: ${last.message}`}`;
      const error = unavailableError(this.#where, reason, last);
      // What is reported as failed must not happen later: drop the commands ioredis still holds to
      // send once the connection is back (queued while down, or sent and unanswered when it dropped).
      dropHeldCommands(this.#client, error);
      for (const abandon of [...this.#pending]) abandon(error);
      this.#pending.clear();
    }, WATCHDOG_INTERVAL);
    this.#watchdog.unref?.();
  }

  #disarm(): void {
    this.#downSince = undefined;
    if (this.#watchdog !== undefined) clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }
}

/** The parts of an ioredis client that hold commands for a connection that is not there yet. */
interface HeldCommands {
  offlineQueue?: { length: number; shift(): { command: { reject(error: unknown): void } } | undefined };
  prevCommandQueue?: { length: number; shift(): { command: { reject(error: unknown): void } } | undefined } | null;
}

/**
 * Rejects and forgets the commands ioredis would send once it reconnects: its offline queue
 * (issued while down) and the commands that were sent but unanswered when the connection dropped
 * (resent on reconnect with `autoResendUnfulfilledCommands`). ioredis keeps these internally; the
 * guard reaches in because otherwise a write reported as failed could still be applied seconds
 * later. A command Redis executed before the connection dropped stays applied: that ambiguity is
 * inherent, and the engine's writes are safe to repeat.
 */
function dropHeldCommands(client: Redis, error: unknown): void {
  const held = client as unknown as HeldCommands;
  for (const queue of [held.offlineQueue, held.prevCommandQueue]) {
    if (queue === null || queue === undefined || typeof queue.shift !== "function") continue;
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      try {
        item.command.reject(error);
      } catch {
        // Already settled.
      }
    }
  }
  if (held.prevCommandQueue !== undefined) held.prevCommandQueue = null;
}
