import { InvalidOptionsError } from "@durastream/protocol";
import { describeValue } from "@durastream/protocol/internal";
import { isWellFormed } from "./ids.js";
import { MAX_RUN_KEY_BYTES, RunKeyTakenError } from "./store/run-key-taken.js";
import type { RunStore } from "./store/run-store.js";

/**
 * `durable.endpoint(handler, { key })`: the run's key, read from the request. Return a non-empty
 * string of at most 512 UTF-8 bytes (e.g. the chat id from the JSON body, or a header), or `null` /
 * `undefined` for a request without a key (it starts a run as usual). May be async.
 *
 * It gets its own copy of the request: read the body freely (`await request.json()`), the handler
 * still gets the whole body. The copy has every header of the incoming request (not only the ones
 * stored with the run) and the body as the endpoint stored it (at most `maxBodyBytes`). The key is
 * computed once, when the request arrives; re-executions of the run (after a sleep, a takeover) do
 * not call it. A throw from it fails the request as a throw from the endpoint would.
 *
 * @example
 * ```ts
 * durable.endpoint(handler, { id: "chat", key: async (request) => (await request.json()).id });
 * ```
 */
export type RunKeyFunction = (request: Request) => string | null | undefined | Promise<string | null | undefined>;

/** Throws `INVALID_OPTIONS` at `durable.endpoint` for a `key` option that is no function, or a store without run keys. */
export function checkKeyOption(key: unknown, store: RunStore): void {
  if (typeof key !== "function") {
    throw new InvalidOptionsError(
      `durable.endpoint: "key" must be a function (request) => string | null, e.g. { key: async (request) => (await request.json()).id }; got ${describeValue(key)}.`,
    );
  }
  if (typeof store.findActiveRunByKey !== "function") {
    throw new InvalidOptionsError(
      'durable.endpoint: "key" needs a store that supports run keys (RunStore.findActiveRunByKey and NewRun.key): MemoryRunStore, SqliteRunStore and RedisRunStore do; this store does not.',
    );
  }
}

const encoder = new TextEncoder();

/** Why `value` is no valid run key, or undefined when it is one. */
function keyProblem(value: string): string | undefined {
  if (value === "") return "it is empty";
  // UTF-8 takes at least one byte per UTF-16 code unit: a longer string is too long, unencoded.
  if (value.length > MAX_RUN_KEY_BYTES) return `it is more than ${MAX_RUN_KEY_BYTES} UTF-8 bytes long (${value.length} UTF-16 code units)`;
  const bytes = encoder.encode(value).byteLength;
  if (bytes > MAX_RUN_KEY_BYTES) return `it is ${bytes} UTF-8 bytes long`;
  if (!isWellFormed(value)) return "it is not well-formed UTF-16 (a lone surrogate)";
  return undefined;
}

/** Whether `value` could be a run key (a non-empty, well-formed string of at most 512 UTF-8 bytes). */
export function isRunKey(value: string): boolean {
  return keyProblem(value) === undefined;
}

/**
 * The key of a request to a keyed endpoint, from the app's `key` function called with a copy of the
 * request (`body`: the bytes the endpoint stored); undefined for no key; a `400` saying what the
 * function must return when it returned something else.
 */
export async function requestKey(keyOf: RunKeyFunction, request: Request, body: Uint8Array<ArrayBuffer> | null): Promise<string | undefined | Response> {
  const copy = new Request(request.url, {
    method: request.method,
    headers: request.headers,
    body: request.method === "GET" || request.method === "HEAD" ? null : body,
  });
  const value: unknown = await keyOf(copy);
  if (value === null || value === undefined) return undefined;
  const problem = typeof value === "string" ? keyProblem(value) : `it is ${describeValue(value)}`;
  if (problem === undefined) return value as string;
  const error = new InvalidOptionsError(
    `durable.endpoint({ key }): the key function must return the run's key as a non-empty string of at most ${MAX_RUN_KEY_BYTES} UTF-8 bytes (e.g. the chat id), or null/undefined for no key; ${problem}.`,
  );
  return new Response(error.message, { status: 400, headers: { "content-type": "text/plain; charset=utf-8" } });
}

/**
 * Starts a run, or, when its key is held by an active run (`RunKeyTakenError`), attaches to that
 * run instead. When the holder is gone by the time it is read (it finished and expired in
 * between), the start is tried again (a few times: each retry means the key was freed).
 */
export async function startOrAttach<T>(start: () => Promise<T>, attach: (runId: string) => Promise<Response | null>): Promise<T | Response> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await start();
    } catch (error) {
      if (!RunKeyTakenError.isInstance(error) || attempt >= 3) throw error;
      const attached = await attach(error.activeRunId);
      if (attached !== null) return attached;
    }
  }
}
