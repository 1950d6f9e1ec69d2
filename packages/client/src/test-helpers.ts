/**
 * Test helpers shared by the client's tests (not exported from the package): frame builders, msw
 * servers that serve SSE text split into awkward chunks, and a recorder for `fetchWithStream`
 * callbacks.
 */
import {
  PROTOCOL_VERSION,
  encodeFrame,
  type CommitFrame,
  type DataFrame,
  type Frame,
  type HashedStepId,
  type MetadataFrame,
  type RedirectFrame,
  type RedirectReason,
  type ResponseSnapshot,
  type ResultFrame,
  type RollbackFrame,
} from "@durastream/protocol";
import { http, HttpResponse } from "msw";
import { setupServer, type SetupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { DurableClientError } from "./errors.js";
import type { DurableStream, DurableStreamSnapshot, DurableStreamStatus, DurableStreamStorage } from "./durable-stream-types.js";
import type { FetchFunction, FetchWithStreamOptions, ReconnectOptions } from "./fetch-with-stream-options.js";

/** Base URL of every mocked endpoint. */
export const ORIGIN = "http://durastream.test";

const encoder = new TextEncoder();

/** A promise with its resolve function exposed, for sequencing tests on events instead of time. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

/**
 * Creates a `Deferred`.
 *
 * @example
 * ```ts
 * const firstChunk = deferred<void>();
 * await firstChunk.promise;
 * ```
 */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/**
 * An msw server for one test file. Clones of mocked responses (which msw makes for its own
 * listeners) are cancelled at once, so cancelling the client's copy reaches the handler's stream.
 *
 * @example
 * ```ts
 * const server = createTestServer();
 * beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
 * ```
 */
export function createTestServer(): SetupServer {
  const server = setupServer();
  server.events.on("response:mocked", ({ response }) => {
    void response.body?.cancel().catch(() => {});
  });
  return server;
}

/**
 * The msw server of one test file, listening for the whole file (unhandled requests fail the test)
 * and with the handlers a test added removed after it.
 *
 * @example
 * ```ts
 * const server = useTestServer();
 * server.use(http.get(`${ORIGIN}/chat`, () => sseResponse(sse(metadata, result))));
 * ```
 */
export function useTestServer(): SetupServer {
  const server = createTestServer();
  beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
  afterEach(() => server.resetHandlers());
  afterAll(() => server.close());
  return server;
}

/** Reconnect options that retry at once, so tests do not wait out the backoff. */
export const NO_WAIT: ReconnectOptions = { delay: () => 0 };

/**
 * The metadata frame that opens a connection to run `runId`.
 *
 * @example
 * ```ts
 * metadataFrame("01JRUN", `/api/durable/01JRUN?token=t0k`);
 * ```
 */
export function metadataFrame(runId: string, resumeUrl: string | null): MetadataFrame {
  return { type: "metadata", runId, protocolVersion: PROTOCOL_VERSION, resumeUrl };
}

/** A run served at its wait endpoint, and the metadata frame that names it as the resume URL. */
export interface DurableRun {
  /** Path of the run's wait endpoint, `/api/durable/:runId`. */
  readonly waitPath: string;
  /** The resume URL the metadata names, resolved against `ORIGIN`. */
  readonly resumeUrl: string;
  /** Metadata whose resume URL is the (relative) wait path with the token `t0k`. */
  readonly metadata: MetadataFrame;
}

/**
 * The wait endpoint and metadata frame of run `runId`.
 *
 * @example
 * ```ts
 * const { waitPath: WAIT_PATH, resumeUrl: RESUME_URL, metadata } = durableRun(RUN_ID);
 * server.use(http.get(`${ORIGIN}${WAIT_PATH}`, () => sseResponse(sse(metadata, result))));
 * ```
 */
export function durableRun(runId: string): DurableRun {
  const waitPath = `/api/durable/${runId}`;
  return { waitPath, resumeUrl: `${ORIGIN}${waitPath}?token=t0k`, metadata: metadataFrame(runId, `${waitPath}?token=t0k`) };
}

/**
 * A data frame, outside any step unless `hashedStepId` is given.
 *
 * @example
 * ```ts
 * dataFrame("1-1", "Hel"); dataFrame("1-2", { token: "lo" }, STEP);
 * ```
 */
export function dataFrame(offset: string, value: unknown, hashedStepId: HashedStepId = null): DataFrame {
  return { type: "data", offset, hashedStepId, data: value };
}

/**
 * A commit frame, outside any step unless `hashedStepId` is given.
 *
 * @example
 * ```ts
 * commitFrame("1-3"); commitFrame("1-3", STEP);
 * ```
 */
export function commitFrame(offset: string, hashedStepId: HashedStepId = null): CommitFrame {
  return { type: "commit", offset, hashedStepId };
}

/**
 * A rollback frame: attempt 1 of `hashedStepId` failed with `Error: boom` and will be retried.
 *
 * @example
 * ```ts
 * rollbackFrame("1-4", STEP); rollbackFrame("1-9", STEP, { attempt: 3, willRetry: false });
 * ```
 */
export function rollbackFrame(
  offset: string,
  hashedStepId: HashedStepId,
  details: Partial<Pick<RollbackFrame, "attempt" | "willRetry" | "error">> = {},
): RollbackFrame {
  return {
    type: "rollback",
    offset,
    hashedStepId,
    attempt: details.attempt ?? 1,
    willRetry: details.willRetry ?? true,
    error: details.error ?? { name: "Error", message: "boom" },
  };
}

/**
 * A redirect frame to `url` (reason `sleep` unless given).
 *
 * @example
 * ```ts
 * redirectFrame(`/api/durable/${RUN_ID}?token=t0k`, "retry");
 * ```
 */
export function redirectFrame(url: string, reason: RedirectReason = "sleep"): RedirectFrame {
  return { type: "redirect", url, reason };
}

/**
 * A result frame: by default a succeeded run whose response is a `200 OK` JSON text body;
 * `response` overrides fields of the response snapshot, `outcome` the run's status.
 *
 * @example
 * ```ts
 * resultFrame("1-6", '"Hello world"');
 * resultFrame("1-1", "Step failed", { status: 500, statusText: "Internal Server Error" }, "failed");
 * ```
 */
export function resultFrame(
  offset: string,
  body: string,
  response: Partial<ResponseSnapshot> = {},
  outcome: ResultFrame["status"] = "succeeded",
): ResultFrame {
  return {
    type: "result",
    offset,
    status: outcome,
    response: {
      status: 200,
      statusText: "OK",
      headers: [["content-type", "application/json"]],
      body,
      bodyEncoding: "text",
      ...response,
    },
  };
}

/**
 * SSE text of frames, as a server writes them.
 *
 * @example
 * ```ts
 * sse({ type: "commit", offset: "1-2", hashedStepId: null });
 * ```
 */
export function sse(...frames: Frame[]): string {
  return frames.map((frame) => encodeFrame(frame)).join("");
}

/**
 * Splits text into UTF-8 chunks that cut inside every multibyte character and, every few bytes,
 * through field names, values and line ends.
 *
 * @example
 * ```ts
 * splitAwkwardly("data: é\n\n"); // chunks such as "da", "ta: \xC3", "\xA9\n", "\n"
 * ```
 */
export function splitAwkwardly(text: string): Uint8Array[] {
  const bytes = encoder.encode(text);
  const cuts = new Set<number>();
  for (let index = 0; index < bytes.length; index += 1) {
    const byte = bytes[index] ?? 0;
    if (byte >= 0xc0) cuts.add(index + 1); // right after the lead byte of a multibyte character
    if (index % 7 === 2) cuts.add(index);
  }
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut <= start || cut >= bytes.length) continue;
    chunks.push(bytes.slice(start, cut));
    start = cut;
  }
  chunks.push(bytes.slice(start));
  return chunks;
}

/** A response body a test writes to as it goes, and whose cancellation it can await. */
export interface ControlledStream {
  readonly stream: ReadableStream<Uint8Array>;
  /** Enqueues `text` split into awkward chunks. */
  send(text: string): void;
  close(): void;
  fail(error: unknown): void;
  /** Resolves with the reason when the stream is cancelled. */
  readonly cancelled: Promise<unknown>;
  /** True once cancelled. */
  readonly wasCancelled: () => boolean;
}

/**
 * Creates a `ControlledStream`.
 *
 * @example
 * ```ts
 * const body = controlledStream();
 * body.send(sse(metadata));
 * await body.cancelled;
 * ```
 */
export function controlledStream(): ControlledStream {
  const cancelled = deferred<unknown>();
  let isCancelled = false;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(streamController) {
      controller = streamController;
    },
    cancel(reason) {
      isCancelled = true;
      cancelled.resolve(reason);
    },
  });
  return {
    stream,
    send(text) {
      for (const chunk of splitAwkwardly(text)) controller.enqueue(chunk);
    },
    close: () => controller.close(),
    fail: (error) => controller.error(error),
    cancelled: cancelled.promise,
    wasCancelled: () => isCancelled,
  };
}

/**
 * An SSE response for an msw handler, with `text` already queued in awkward chunks and the stream
 * closed after it.
 *
 * @example
 * ```ts
 * http.get(`${ORIGIN}/chat`, () => sseResponse(sse(metadata, result)));
 * ```
 */
export function sseResponse(text: string, headers: Record<string, string> = {}): HttpResponse<ReadableStream> {
  const body = controlledStream();
  body.send(text);
  body.close();
  return streamResponse(body.stream, headers);
}

/**
 * An SSE response around a stream the test controls.
 *
 * @example
 * ```ts
 * http.get(`${ORIGIN}/chat`, () => streamResponse(body.stream));
 * ```
 */
export function streamResponse(
  stream: ReadableStream<Uint8Array>,
  headers: Record<string, string> = {},
): HttpResponse<ReadableStream> {
  return new HttpResponse(stream, { headers: { "content-type": "text/event-stream", ...headers } });
}

/** What the recorder saw, one entry per callback call, in call order. */
export type RecordedEvent = readonly [name: string, argument?: unknown];

/**
 * Callbacks for `fetchWithStream` that record every call (copying the documented fields only).
 *
 * @example
 * ```ts
 * const { events, callbacks } = recorder();
 * await fetchWithStream(url, callbacks);
 * expect(events.map(([name]) => name)).toEqual(["metadata", "data", "done"]);
 * ```
 */
export function recorder(): { events: RecordedEvent[]; callbacks: FetchWithStreamOptions } {
  const events: RecordedEvent[] = [];
  return {
    events,
    callbacks: {
      onMetadata: (metadata) => events.push(["metadata", { ...metadata }]),
      onData: ({ data, hashedStepId, offset }) => events.push(["data", { data, hashedStepId, offset }]),
      onCommit: ({ hashedStepId, offset }) => events.push(["commit", { hashedStepId, offset }]),
      onRollback: ({ hashedStepId, attempt, willRetry, error, offset }) =>
        events.push(["rollback", { hashedStepId, attempt, willRetry, error, offset }]),
      onRedirect: (redirect) => events.push(["redirect", { ...redirect }]),
      onReconnect: ({ attempt, delay, error, url, lastOffset }) =>
        events.push(["reconnect", { attempt, delay, code: error.code, status: error.status, url, lastOffset }]),
      onStreamError: (error) => events.push(["streamError", error]),
      onWarning: (warning) => events.push(["warning", warning.code]),
      onDone: () => events.push(["done"]),
    },
  };
}

/**
 * Asserts `onDone` ran exactly once, after every other callback.
 *
 * @example
 * ```ts
 * expectDoneOnceAndLast(events);
 * ```
 */
export function expectDoneOnceAndLast(events: readonly RecordedEvent[]): void {
  expect(events.filter(([name]) => name === "done")).toHaveLength(1);
  expect(events.at(-1)?.[0]).toBe("done");
}

/**
 * Waits for a promise to reject and returns the reason (fails the test if it resolves).
 *
 * @example
 * ```ts
 * const error = await rejectionOf(fetchWithStream(url));
 * ```
 */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("Expected the promise to reject, but it resolved.");
}

/**
 * Asserts `error` is a `DurableClientError` with `code`, and narrows its type.
 *
 * @example
 * ```ts
 * expectClientError(error, "NETWORK");
 * expect(error.url).toBe(URL_);
 * ```
 */
export function expectClientError(error: unknown, code: string): asserts error is DurableClientError {
  expect(DurableClientError.isInstance(error)).toBe(true);
  expect((error as DurableClientError).code).toBe(code);
}

/** What a mocked server saw of one request. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly accept: string | null;
  readonly lastEventId: string | null;
  readonly custom: string | null;
}

/**
 * The parts of a request the tests check (`custom` is the `x-custom` header).
 *
 * @example
 * ```ts
 * http.get(url, ({ request }) => { seen.push(see(request)); return sseResponse(text); });
 * ```
 */
export function see(request: Request): SeenRequest {
  return {
    method: request.method,
    url: request.url,
    accept: request.headers.get("accept"),
    lastEventId: request.headers.get("last-event-id"),
    custom: request.headers.get("x-custom"),
  };
}

/**
 * An msw resolver that answers the n-th request with the n-th responder and records every request;
 * a request beyond the last responder fails the test.
 *
 * @example
 * ```ts
 * const wait = inSequence(() => HttpResponse.error(), () => sseResponse(sse(metadata, result)));
 * server.use(http.get(WAIT_URL, wait.resolver));
 * expect(wait.seen).toHaveLength(2);
 * ```
 */
export function inSequence(...responders: ((request: Request) => Response)[]): {
  readonly seen: SeenRequest[];
  readonly resolver: (info: { request: Request }) => Response;
} {
  const seen: SeenRequest[] = [];
  return {
    seen,
    resolver: ({ request }) => {
      seen.push(see(request));
      const responder = responders[seen.length - 1];
      if (responder === undefined) throw new Error(`Unexpected request #${seen.length} to ${request.method} ${request.url}`);
      return responder(request);
    },
  };
}

/**
 * Serves POSTs to `url` with `respond()` and records each request.
 *
 * @example
 * ```ts
 * const endpoint = servePosts(server, ENDPOINT, () => sseResponse(sse(metadata, data("1-1", "a"))));
 * expect(endpoint.posts).toHaveLength(1);
 * ```
 */
export function servePosts(server: SetupServer, url: string, respond: () => Response): { readonly posts: SeenRequest[] } {
  const posts: SeenRequest[] = [];
  server.use(
    http.post(url, ({ request }) => {
      posts.push(see(request));
      return respond();
    }),
  );
  return { posts };
}

/** A `DurableStreamStorage` in memory that records every write. */
export interface MemoryStorage extends DurableStreamStorage {
  /** The stored values. */
  readonly items: Map<string, string>;
  /** Every `setItem` call, in order, with the value parsed as JSON. */
  readonly saves: { readonly key: string; readonly value: unknown }[];
  /** Every `removeItem` call's key, in order. */
  readonly removals: string[];
}

/**
 * Creates a `MemoryStorage`, optionally with initial values (stringified as JSON).
 *
 * @example
 * ```ts
 * const storage = memoryStorage({ chat: { runId, resumeUrl, lastEventId: "1-3", committed: ["Hi"] } });
 * createDurableStream({ url, persistKey: "chat", storage });
 * ```
 */
export function memoryStorage(initial: Record<string, unknown> = {}): MemoryStorage {
  const items = new Map(Object.entries(initial).map(([key, value]) => [key, JSON.stringify(value)] as const));
  const saves: { key: string; value: unknown }[] = [];
  const removals: string[] = [];
  return {
    items,
    saves,
    removals,
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => {
      saves.push({ key, value: JSON.parse(value) as unknown });
      items.set(key, value);
    },
    removeItem: (key) => {
      removals.push(key);
      items.delete(key);
    },
  };
}

/**
 * Resolves with the first snapshot of `stream` that satisfies `predicate` (checked at once, then at
 * every notification).
 *
 * @example
 * ```ts
 * await snapshotWhere(stream, ({ committed }) => committed.length === 2);
 * ```
 */
export function snapshotWhere<T, R>(
  stream: DurableStream<T, R>,
  predicate: (snapshot: DurableStreamSnapshot<T, R>) => boolean,
): Promise<DurableStreamSnapshot<T, R>> {
  return new Promise((resolve) => {
    const check = (): boolean => {
      const snapshot = stream.getSnapshot();
      if (!predicate(snapshot)) return false;
      resolve(snapshot);
      return true;
    };
    if (check()) return;
    const unsubscribe = stream.subscribe(() => {
      if (check()) unsubscribe();
    });
  });
}

/**
 * Resolves once `stream` reaches `status`.
 *
 * @example
 * ```ts
 * await statusReached(stream, "waiting");
 * ```
 */
export function statusReached<T, R>(stream: DurableStream<T, R>, status: DurableStreamStatus): Promise<DurableStreamSnapshot<T, R>> {
  return snapshotWhere(stream, (snapshot) => snapshot.status === status);
}

/**
 * Records the status of every snapshot a subscriber sees (repeats collapsed).
 *
 * @example
 * ```ts
 * const statuses = recordStatuses(stream);
 * await stream.start();
 * expect(statuses).toEqual(["connecting", "streaming", "succeeded"]);
 * ```
 */
export function recordStatuses(stream: DurableStream<unknown, unknown>): DurableStreamStatus[] {
  const statuses: DurableStreamStatus[] = [];
  stream.subscribe(() => {
    const { status } = stream.getSnapshot();
    if (statuses.at(-1) !== status) statuses.push(status);
  });
  return statuses;
}

/**
 * A `fetch` that needs no server: answers every request with an SSE response whose body streams
 * `frames`, encoded, `framesPerChunk` frames per chunk, and records the requests.
 *
 * @example
 * ```ts
 * const scripted = scriptedFetch([metadata, dataFrame("1-1", "a"), commitFrame("1-2"), resultFrame("1-3", '"a"')]);
 * createDurableStream({ url: ENDPOINT, fetch: scripted.fetch });
 * ```
 */
export function scriptedFetch(
  frames: readonly Frame[],
  framesPerChunk = 64,
): { readonly fetch: FetchFunction; readonly requests: { readonly url: string; readonly init: RequestInit | undefined }[] } {
  const requests: { url: string; init: RequestInit | undefined }[] = [];
  return {
    requests,
    fetch: async (url, init) => {
      requests.push({ url, init });
      let index = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (index >= frames.length) {
            controller.close();
            return;
          }
          let text = "";
          for (const end = Math.min(frames.length, index + framesPerChunk); index < end; index += 1) text += encodeFrame(frames[index]!);
          controller.enqueue(encoder.encode(text));
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    },
  };
}
