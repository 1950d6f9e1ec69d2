import { InvalidOptionsError } from "@durastream/protocol";
import { checkStoreClock, checkStoreRetention, describeValue } from "@durastream/protocol/internal";
import type { Redis } from "ioredis";

/**
 * Options of `RedisRunStore`. All optional: by default the store connects to `REDIS_URL`, or to
 * `redis://127.0.0.1:6379`.
 *
 * @example
 * ```ts
 * const options: RedisRunStoreOptions = { url: "redis://redis.internal:6379", prefix: "chat-app:", retention: 6 * 60 * 60_000 };
 * ```
 */
export interface RedisRunStoreOptions {
  /**
   * An ioredis client to use for commands (standalone Redis, without `keyPrefix`: use `prefix`).
   * The store does not close it; it `duplicate()`s it for its one subscriber connection, and
   * defines its Lua scripts on it (as `durastream*` commands). Its own retry settings apply.
   */
  redis?: Redis;
  /**
   * Where Redis is, when `redis` is not given: `redis://[[user]:password@]host[:port][/db]` or
   * `rediss://…` for TLS. Default `process.env.REDIS_URL`, else `"redis://127.0.0.1:6379"`.
   */
  url?: string;
  /** Put before every key and channel the store uses, so that apps can share a Redis. Default `"durastream:"`. */
  prefix?: string;
  /** How long a finished run and its log are kept after it finished, in milliseconds. Default 24 hours. */
  retention?: number;
  /** The clock, epoch-milliseconds (retention and `updatedAt` read it). Default `Date.now`. */
  now?: () => number;
}

/** The options, checked; throws an `InvalidOptionsError` saying what to pass. */
export function validateOptions(options: RedisRunStoreOptions): RedisRunStoreOptions {
  if (typeof options !== "object" || options === null) {
    fail(`pass an options object, e.g. new RedisRunStore({ url: "redis://127.0.0.1:6379" }), or nothing; got ${describeValue(options)}.`);
  }
  const { redis, url, prefix, retention, now } = options;
  if (redis !== undefined) {
    const candidate = redis as unknown as Record<string, unknown> | null;
    if (typeof candidate !== "object" || candidate === null || typeof candidate.duplicate !== "function" || typeof candidate.defineCommand !== "function") {
      fail(`"redis" must be an ioredis client, e.g. { redis: new Redis(process.env.REDIS_URL) }; got ${describeValue(redis)}.`);
    }
    if (candidate.isCluster === true) {
      fail(
        '"redis" is a Redis Cluster client; the store needs a standalone Redis (its scripts touch keys of several runs). Pass a client of one node, or { url }.',
      );
    }
    const keyPrefix = (redis.options as { keyPrefix?: unknown } | undefined)?.keyPrefix;
    if (typeof keyPrefix === "string" && keyPrefix !== "") {
      fail(
        `the "redis" client has keyPrefix ${JSON.stringify(keyPrefix)}; pass a client without keyPrefix and give the store { prefix: ${JSON.stringify(keyPrefix)} } instead.`,
      );
    }
    if (url !== undefined) fail('pass either "redis" (a client) or "url", not both.');
  }
  if (url !== undefined && !isRedisUrl(url)) {
    fail(`"url" must be a Redis URL such as "redis://127.0.0.1:6379" (or "rediss://…" for TLS); got ${describeValue(url)}.`);
  }
  if (prefix !== undefined && (typeof prefix !== "string" || prefix === "")) {
    fail(`"prefix" must be a non-empty string put before every key, e.g. { prefix: "chat-app:" }; got ${describeValue(prefix)}.`);
  }
  checkStoreRetention("RedisRunStore", retention, "24 hours");
  checkStoreClock("RedisRunStore", now);
  return options;
}

function isRedisUrl(url: unknown): boolean {
  if (typeof url !== "string") return false;
  try {
    const { protocol, hostname } = new URL(url);
    return (protocol === "redis:" || protocol === "rediss:") && hostname !== "";
  } catch {
    return false;
  }
}

function fail(message: string): never {
  throw new InvalidOptionsError(`RedisRunStore: ${message}`);
}
