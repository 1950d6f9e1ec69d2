import {
  ORIGIN,
  commitFrame,
  controlledStream,
  dataFrame,
  durableRun,
  expectClientError,
  inSequence,
  memoryStorage,
  resultFrame,
  servePosts,
  snapshotWhere,
  sse,
  sseResponse,
  streamResponse,
  setupTestServer,
} from "@durastream/client-testing";
import { hashStepId } from "@durastream/protocol";
import { http, HttpResponse } from "msw";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PERSIST_INTERVAL_MS, createRunSaver, loadPersistedRun } from "./durable-stream-persistence.js";
import type { DurableStreamStorage } from "./durable-stream-types.js";
import { createDurableStream } from "./durable-stream.js";

const server = setupTestServer();
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

const STEP = await hashStepId("answer");
const TOOL = await hashStepId("tool");
const RUN_ID = "01JSTOREPERSIST00000000000";
const ENDPOINT = `${ORIGIN}/api/chat`;
const KEY = "chat-answer";
const { waitPath: WAIT_PATH, resumeUrl: RESUME_URL, metadata } = durableRun(RUN_ID);

describe("createDurableStream persistence", () => {
  it("saves the latest safe offset with the committed chunks as of it, at most once per 250 ms", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const storage = memoryStorage();
    const body = controlledStream();
    servePosts(server, ENDPOINT, () => streamResponse(body.stream));
    const stream = createDurableStream<string>({ url: ENDPOINT, fetchOpts: { method: "POST" }, persistKey: KEY, storage });
    void stream.start();

    body.send(sse(metadata));
    await snapshotWhere(stream, (snapshot) => snapshot.runId === RUN_ID);
    // The run is known: saved at once, to be read from its start.
    expect(storage.saves).toEqual([{ key: KEY, value: { runId: RUN_ID, resumeUrl: RESUME_URL, offset: null, committed: [] } }]);

    body.send(sse(dataFrame("1-1", "a", STEP), commitFrame("1-2", STEP), dataFrame("1-3", "b", STEP), commitFrame("1-4", STEP)));
    body.send(sse(dataFrame("1-5", "c", TOOL)));
    await snapshotWhere(stream, (snapshot) => snapshot.offset === "1-5");
    expect(storage.saves).toHaveLength(1); // throttled

    vi.advanceTimersByTime(PERSIST_INTERVAL_MS);
    // The latest frame after which nothing was pending is 1-4, not 1-5: resuming after 1-5 would lose "c".
    expect(storage.saves).toHaveLength(2);
    expect(storage.saves[1]?.value).toEqual({ runId: RUN_ID, resumeUrl: RESUME_URL, offset: "1-4", committed: ["a", "b"] });

    vi.advanceTimersByTime(PERSIST_INTERVAL_MS * 4);
    expect(storage.saves).toHaveLength(2); // nothing new to save

    body.send(sse(commitFrame("1-6", TOOL)));
    await snapshotWhere(stream, (snapshot) => snapshot.offset === "1-6");
    expect(storage.saves[2]?.value).toMatchObject({ offset: "1-6", committed: ["a", "b", "c"] });

    body.send(sse(dataFrame("1-7", "d", STEP), commitFrame("1-8", STEP)));
    await snapshotWhere(stream, (snapshot) => snapshot.offset === "1-8");
    expect(storage.saves).toHaveLength(3);
    // Stopping the stream saves at once: the run goes on at the server and stays resumable.
    stream.abort();
    expect(storage.saves).toHaveLength(4);
    expect(storage.saves[3]?.value).toMatchObject({ offset: "1-8", committed: ["a", "b", "c", "d"] });
    expect(stream.hasPersistedRun()).toBe(true);
    vi.advanceTimersByTime(PERSIST_INTERVAL_MS * 4);
    expect(storage.saves).toHaveLength(4);
  });

  it("resumes a persisted unfinished run on start() instead of POSTing, then forgets it once it succeeded", async () => {
    const storage = memoryStorage({ [KEY]: { runId: RUN_ID, resumeUrl: RESUME_URL, offset: "1-4", committed: ["a", "b"] } });
    const endpoint = servePosts(server, ENDPOINT, () => sseResponse(sse(metadata, resultFrame("1-1", '"new run"'))));
    const waitEndpoint = inSequence(() => sseResponse(sse(metadata, dataFrame("1-5", "c", STEP), commitFrame("1-6", STEP), resultFrame("1-7", '"abc"'))));
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, waitEndpoint.resolver));
    const stream = createDurableStream<string>({ url: ENDPOINT, fetchOpts: { method: "POST", body: "{}" }, persistKey: KEY, storage });
    expect(stream.hasPersistedRun()).toBe(true);

    const pending = stream.start({ body: '{"prompt":"ignored: the run exists"}' });
    expect(stream.getSnapshot()).toMatchObject({ status: "connecting", runId: RUN_ID, resumeUrl: RESUME_URL, offset: "1-4", committedText: "ab" });
    await pending;

    expect(endpoint.posts).toHaveLength(0);
    expect(waitEndpoint.seen.map(({ method, url, lastEventId }) => ({ method, url, lastEventId }))).toEqual([
      { method: "GET", url: RESUME_URL, lastEventId: "1-4" },
    ]);
    expect(stream.getSnapshot()).toMatchObject({ status: "succeeded", committedText: "abc", result: { body: "abc" } });
    expect(storage.items.has(KEY)).toBe(false);
    expect(storage.removals).toContain(KEY);
    expect(stream.hasPersistedRun()).toBe(false);

    await stream.start();
    expect(endpoint.posts).toHaveLength(1);
  });

  it("resumes a run saved by the previous version, with lastEventId for offset, and saves it in the current shape", async () => {
    const storage = memoryStorage({ [KEY]: { runId: RUN_ID, resumeUrl: RESUME_URL, lastEventId: "1-4", committed: ["a", "b"] } });
    expect(loadPersistedRun(storage, KEY)).toEqual({ runId: RUN_ID, resumeUrl: RESUME_URL, offset: "1-4", committed: ["a", "b"] });
    const body = controlledStream();
    const waitEndpoint = inSequence(() => streamResponse(body.stream));
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, waitEndpoint.resolver));
    const stream = createDurableStream<string>({ url: ENDPOINT, persistKey: KEY, storage });
    expect(stream.hasPersistedRun()).toBe(true);

    const pending = stream.resume();
    expect(stream.getSnapshot()).toMatchObject({ status: "connecting", offset: "1-4", committedText: "ab" });
    body.send(sse(metadata, dataFrame("1-5", "c", STEP), commitFrame("1-6", STEP)));
    await snapshotWhere(stream, (snapshot) => snapshot.offset === "1-6");
    expect(waitEndpoint.seen.map(({ lastEventId }) => lastEventId)).toEqual(["1-4"]);
    stream.abort(); // saves where the run stands, at once
    await pending;
    expect(storage.saves.at(-1)?.value).toEqual({ runId: RUN_ID, resumeUrl: RESUME_URL, offset: "1-6", committed: ["a", "b", "c"] });
    await body.cancelled;
  });

  it("ignores a saved run whose offset (either name) is neither null nor a string", () => {
    for (const saved of [
      { runId: RUN_ID, resumeUrl: RESUME_URL, offset: 5, committed: [] },
      { runId: RUN_ID, resumeUrl: RESUME_URL, lastEventId: 5, committed: [] },
      { runId: RUN_ID, resumeUrl: RESUME_URL, committed: [] },
    ]) {
      expect(loadPersistedRun(memoryStorage({ [KEY]: saved }), KEY)).toBeUndefined();
    }
  });

  it("resume() without a position attaches to the persisted run, and is a no-op when there is none", async () => {
    const storage = memoryStorage();
    const stream = createDurableStream({ url: ENDPOINT, persistKey: KEY, storage });
    await stream.resume();
    expect(stream.getSnapshot().status).toBe("idle");

    storage.setItem(KEY, JSON.stringify({ runId: RUN_ID, resumeUrl: RESUME_URL, offset: null, committed: [] }));
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, () => sseResponse(sse(metadata, dataFrame("1-1", "x"), commitFrame("1-2"), resultFrame("1-3", "1")))));
    await stream.resume();
    expect(stream.getSnapshot()).toMatchObject({ status: "succeeded", committedText: "x" });
  });

  it("removes the key when the run's result arrives, failed or not", async () => {
    const storage = memoryStorage();
    servePosts(server, ENDPOINT, () =>
      sseResponse(sse(metadata, dataFrame("1-1", "a"), commitFrame("1-2"), resultFrame("1-3", '"boom"', { status: 500 }, "failed"))),
    );
    const stream = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" }, persistKey: KEY, storage });
    await stream.start();
    expect(stream.getSnapshot().status).toBe("failed");
    expect(storage.saves.length).toBeGreaterThan(0);
    expect(storage.items.has(KEY)).toBe(false);
  });

  it("removes the key on reset()", async () => {
    const storage = memoryStorage();
    const body = controlledStream();
    servePosts(server, ENDPOINT, () => streamResponse(body.stream));
    const stream = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" }, persistKey: KEY, storage });
    void stream.start();
    body.send(sse(metadata, dataFrame("1-1", "a"), commitFrame("1-2")));
    await snapshotWhere(stream, (snapshot) => snapshot.offset === "1-2");
    expect(storage.items.has(KEY)).toBe(true);
    stream.reset();
    expect(storage.items.has(KEY)).toBe(false);
    expect(stream.hasPersistedRun()).toBe(false);
    await body.cancelled;
  });

  it("keeps the run when the connection failed on the way, and forgets it when the wait endpoint does not know it", async () => {
    const storage = memoryStorage();
    servePosts(server, ENDPOINT, () => sseResponse(sse(metadata, dataFrame("1-1", "a"), commitFrame("1-2"), dataFrame("1-3", "b"))));
    const stream = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" }, persistKey: KEY, storage, reconnect: false });
    await stream.start();
    expectClientError(stream.getSnapshot().error, "STREAM_ENDED");
    expect(loadPersistedRun(storage, KEY)).toEqual({ runId: RUN_ID, resumeUrl: RESUME_URL, offset: "1-2", committed: ["a"] });

    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, () => HttpResponse.json({ error: "Unknown run" }, { status: 404 })));
    await stream.start();
    const { status, error } = stream.getSnapshot();
    expect(status).toBe("failed");
    expectClientError(error, "HTTP");
    expect(error.status).toBe(404);
    expect(storage.items.has(KEY)).toBe(false);
  });

  it("defaults to globalThis.sessionStorage, and reads it only when used", async () => {
    const storage = memoryStorage();
    let reads = 0;
    vi.stubGlobal("sessionStorage", undefined);
    Object.defineProperty(globalThis, "sessionStorage", {
      configurable: true,
      get: () => {
        reads += 1;
        return storage;
      },
    });
    servePosts(server, ENDPOINT, () => sseResponse(sse(metadata, dataFrame("1-1", "a"), commitFrame("1-2"), resultFrame("1-3", "1"))));
    const stream = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" }, persistKey: KEY });
    stream.getSnapshot();
    expect(reads).toBe(0);
    await stream.start();
    expect(reads).toBeGreaterThan(0);
    expect(storage.saves.map(({ key }) => key)).toContain(KEY);
    expect(storage.items.has(KEY)).toBe(false);
  });

  it("persists nothing without a persistKey, and survives storage that is garbage or throws", async () => {
    servePosts(server, ENDPOINT, () => sseResponse(sse(metadata, dataFrame("1-1", "a"), commitFrame("1-2"), resultFrame("1-3", "1"))));
    const unused = memoryStorage();
    await createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" }, storage: unused }).start();
    expect(unused.saves).toEqual([]);

    const garbage = memoryStorage();
    garbage.items.set(KEY, "{not json");
    const withGarbage = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" }, persistKey: KEY, storage: garbage });
    expect(withGarbage.hasPersistedRun()).toBe(false);
    garbage.items.set(KEY, JSON.stringify({ runId: 1 }));
    expect(withGarbage.hasPersistedRun()).toBe(false);

    const failing: DurableStreamStorage = {
      getItem: () => {
        throw new Error("SecurityError");
      },
      setItem: () => {
        throw new Error("QuotaExceededError");
      },
      removeItem: () => {
        throw new Error("SecurityError");
      },
    };
    const stream = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" }, persistKey: KEY, storage: failing });
    expect(stream.hasPersistedRun()).toBe(false);
    await stream.start();
    expect(stream.getSnapshot()).toMatchObject({ status: "succeeded", committedText: "a" });
  });
});

describe("createRunSaver", () => {
  it("saves the first change at once, then the latest state at the end of each busy interval", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const storage = memoryStorage();
    let state = 0;
    const saver = createRunSaver(storage, "k", () => ({ runId: "r", resumeUrl: "u", offset: `1-${state}`, committed: [] }), 100);
    const saved = () => storage.saves.map(({ value }) => (value as { offset: string }).offset);
    state = 1;
    saver.schedule();
    state = 2;
    saver.schedule();
    state = 3;
    saver.schedule();
    expect(saved()).toEqual(["1-1"]);
    vi.advanceTimersByTime(100);
    expect(saved()).toEqual(["1-1", "1-3"]);
    vi.advanceTimersByTime(100);
    expect(saved()).toEqual(["1-1", "1-3"]);
    state = 4;
    saver.schedule();
    expect(saved()).toEqual(["1-1", "1-3", "1-4"]); // quiet for a whole interval: at once again
    state = 5;
    saver.schedule();
    saver.flush();
    expect(saved()).toEqual(["1-1", "1-3", "1-4", "1-5"]);
    saver.cancel();
    saver.schedule();
    saver.flush();
    vi.runAllTimers();
    expect(saved()).toEqual(["1-1", "1-3", "1-4", "1-5"]);
  });
});
