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
      for (const abandon of [...this.#pending]) abandon(unavailableError(this.#where, reason, last));
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
