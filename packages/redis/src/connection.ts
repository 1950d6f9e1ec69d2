import { DurableError } from "@durastream/server";
import { Redis, type RedisOptions } from "ioredis";

/**
 * How the store configures the ioredis client it creates from `url` (a caller-supplied client keeps
 * its own settings). The aim: a dropped connection that comes back at once (a killed connection, a
 * failover, a quick restart) fails nothing, and a Redis that is down or silent fails operations
 * within a few seconds with a clear error instead of hanging.
 *
 * - `retryStrategy`: reconnect after 100 ms, 200 ms, … then every second, forever.
 * - `connectTimeout` 2 s: a host that drops packets counts as a failed attempt after 2 s (ioredis's
 *   default is 10 s).
 * - `enableOfflineQueue` true: a command issued while reconnecting waits for the connection rather
 *   than failing at once, so a brief drop is invisible.
 * - `maxRetriesPerRequest` 3: commands waiting for a connection (queued while reconnecting, or
 *   sent and unanswered when it dropped) are rejected once 4 reconnection attempts in a row
 *   failed: about 0.6 s after Redis became unreachable, then every 2–4 s while it stays down.
 * - `autoResendUnfulfilledCommands` true (the default): commands that were sent but unanswered
 *   when the connection dropped are sent again once it is back. The scripts' tokens make that safe
 *   (a write is applied once; see scripts.ts).
 * - `socketTimeout` 5 s: a connection on which commands wait but nothing arrives for 5 s (a network
 *   partition without resets, a hung proxy) is dropped and handled as above.
 * - no `commandTimeout`: a command that timed out on the client may still run on the server
 *   afterwards, so the store would report failures of writes that happen. The bounds above come
 *   from the connection's state instead, and the store's watchdog (`UNAVAILABLE_AFTER`) rejects
 *   operations still pending once the connection has not been ready for that long (e.g. it opens
 *   but never completes its handshake, where ioredis would keep waiting).
 */
const CLIENT_OPTIONS: RedisOptions = {
  retryStrategy: (attempt: number) => Math.min(attempt * 100, 1_000),
  connectTimeout: 2_000,
  enableOfflineQueue: true,
  maxRetriesPerRequest: 3,
  autoResendUnfulfilledCommands: true,
  socketTimeout: 5_000,
};

/** How long the connection may be down before pending operations are rejected, in milliseconds. */
export const UNAVAILABLE_AFTER = 3_000;

/** Replies with which Redis says it cannot serve now (loading, read-only replica, out of memory, …). */
const UNAVAILABLE_REPLIES = /^(LOADING|READONLY|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|MISCONF|OOM)\b/;

/** A Redis URL without its password, for messages. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.href.replace(/\/$/, "");
  } catch {
    return url;
  }
}

/** Where a caller-supplied client connects, for messages. */
export function describeClient(client: Redis): string {
  const { host, port, path, tls } = client.options as RedisOptions & { path?: string; tls?: unknown };
  if (typeof path === "string" && path !== "") return `unix:${path}`;
  return `${tls === undefined ? "redis" : "rediss"}://${host ?? "localhost"}:${port ?? 6379}`;
}

/**
 * Turns an error of a Redis command into the store's error: connection problems (and replies with
 * which Redis says it cannot serve) become a `DurableError` `STORE_UNAVAILABLE` saying what to
 * check; other errors are returned as they are.
 */
export function translateError(error: unknown, where: string, lastConnectionError: Error | undefined): unknown {
  if (DurableError.isInstance(error)) return error;
  const name = error instanceof Error ? error.name : "";
  const message = error instanceof Error ? error.message : String(error);
  if (name === "ReplyError" && !UNAVAILABLE_REPLIES.test(message)) return error;
  const reason = name === "ReplyError" || lastConnectionError === undefined ? message : `${lastConnectionError.message}; ${message}`;
  return unavailableError(where, reason, error);
}

/** The `STORE_UNAVAILABLE` error for Redis at `where`. */
export function unavailableError(where: string, reason: string, cause?: unknown): DurableError {
  return new DurableError(
    "STORE_UNAVAILABLE",
    `RedisRunStore: Redis at ${where} is unavailable (${reason}). Check that redis-server is running and reachable there, ` +
      `and that REDIS_URL (or the store's "url" or "redis" option) points at it.`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Creates the store's own client for `url`, with `CLIENT_OPTIONS`, named after the prefix so that
 * `CLIENT LIST` shows whose connections these are (`durastream:<prefix>`; the subscriber's name
 * ends in `:subscriber`).
 */
export function createClient(url: string, prefix: string): Redis {
  return new Redis(url, { ...CLIENT_OPTIONS, connectionName: connectionName(prefix) });
}

/** A CLIENT SETNAME-safe name for the connections of the store with `prefix`. */
export function connectionName(prefix: string): string {
  return `durastream:${prefix.replace(/[^\w:.-]/g, "_").replace(/:$/, "")}`.slice(0, 200);
}
