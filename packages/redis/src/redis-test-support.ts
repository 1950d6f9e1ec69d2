// Shared by the Redis test files: where the test Redis is, unique key prefixes, and cleanup.
// Not part of the published package.
import { Redis } from "ioredis";
import { it } from "vitest";

const DEFAULT_URL = "redis://127.0.0.1:6379";
let reachable: Promise<string | undefined> | undefined;

/**
 * The URL of the Redis the tests use (`REDIS_URL`, else `redis://127.0.0.1:6379`) when it answers
 * PING; otherwise undefined, and the tests skip with a message saying how to run them. Under CI
 * (`CI` set) an unreachable Redis throws instead: the Redis tests must fail there, never be skipped.
 */
export function redisUrlForTests(): Promise<string | undefined> {
  reachable ??= probe(process.env.REDIS_URL ?? DEFAULT_URL);
  return reachable;
}

async function probe(url: string): Promise<string | undefined> {
  const client = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 2_000 });
  let connectionError: Error | undefined;
  client.on("error", (error: Error) => (connectionError = error));
  try {
    await client.connect();
    await client.ping();
    return url;
  } catch (error) {
    const reason = (connectionError ?? (error instanceof Error ? error : new Error(String(error)))).message;
    if (process.env.CI) {
      throw new Error(
        `No Redis answers at ${url} (${reason}), and CI is set: the Redis store tests must run in CI, not be skipped. ` +
          `Start redis-server in the CI job (e.g. a redis:7 service) or set REDIS_URL to a reachable Redis.`,
      );
    }
    console.warn(
      `[@durastream/redis] Skipping the Redis tests: no Redis answers at ${url} (${reason}). To run them, start one ` +
        `(redis-server --save "" --appendonly no) or set REDIS_URL.`,
    );
    return undefined;
  } finally {
    client.disconnect();
  }
}

/**
 * Registers one skipped test that says why, for a test file whose tests all need Redis (vitest
 * rejects a file without tests).
 */
export function skipWithoutRedis(): void {
  it.skip("needs a Redis: start redis-server or set REDIS_URL (required when CI is set)", () => {});
}

let prefixCounter = 0;

/** A key prefix no other test uses (process, time, counter), so tests can share one Redis. */
export function uniquePrefix(label: string): string {
  prefixCounter += 1;
  return `durastream-test:${label}:${process.pid}-${Date.now().toString(36)}-${prefixCounter}:`;
}

/** Deletes every key under `prefix` (the prefix must not contain glob characters; `uniquePrefix`'s do not). */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 2 });
  client.on("error", () => {});
  try {
    let cursor = "0";
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1_000);
      cursor = next;
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    client.disconnect();
  }
}
