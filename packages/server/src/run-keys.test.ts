// Runs addressed by a key (durable.endpoint(handler, { key }), durable.attach) over real loopback
// HTTP: concurrent requests with one key start one run and read the same output; a finished run
// frees its key; attach by key, as SSE and as a long-poll; invalid keys.
import type { AddressInfo } from "node:net";
import { fetchWithStream } from "@durastream/client";
import { InvalidOptionsError, type Frame } from "@durastream/protocol";
import { collectFrames, committedData, until } from "@durastream/testing";
import { afterEach, describe, expect, it } from "vitest";
import { step, stream } from "./context.js";
import { createDurable, type DurableOptions, type EndpointOptions } from "./create-durable.js";
import { createEndpointServer } from "./node/index.js";
import type { DurableHandler } from "./run-types.js";
import { MemoryRunStore } from "./store/memory-store.js";
import type { RunStore } from "./store/run-store.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** A promise the test opens. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** The chat id of a JSON body `{ id }`: the key the tests use. */
const keyFromBody = async (request: Request): Promise<string | null> => ((await request.json()) as { id?: string | null }).id ?? null;

/** Counts createRun calls refused for a taken key. */
function countingStore(store: RunStore = new MemoryRunStore()): { store: RunStore; conflicts: () => number } {
  let conflicts = 0;
  const createRun = store.createRun.bind(store);
  store.createRun = async (run) => {
    try {
      return await createRun(run);
    } catch (error) {
      conflicts += 1;
      throw error;
    }
  };
  return { store, conflicts: () => conflicts };
}

/**
 * An app on loopback: the keyed endpoint `chat` at /api/chat, `durable.attach("chat", id)` at
 * /api/chat/<id>/stream (204 when nothing is active), the wait endpoint at /api/durable/.
 */
async function serve(handler: DurableHandler, options: { durable?: DurableOptions; endpoint?: EndpointOptions } = {}) {
  const durable = createDurable({ backoff: () => 0, ...options.durable });
  const endpoint = durable.endpoint(handler, { id: "chat", key: keyFromBody, ...options.endpoint });
  const wait = durable.waitEndpoint();
  const server = createEndpointServer(async (request) => {
    const { pathname } = new URL(request.url);
    if (pathname.startsWith("/api/durable/")) return wait(request);
    const resume = /^\/api\/chat\/([^/]+)\/stream$/.exec(pathname);
    if (resume !== null) return (await durable.attach("chat", decodeURIComponent(resume[1]!), request)) ?? new Response(null, { status: 204 });
    return endpoint(request);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(async () => {
    server.closeAllConnections();
    server.close();
    await durable.close({ timeout: 1_000 });
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { durable, origin, url: `${origin}/api/chat` };
}

/** A handler that streams "a", "b", waits for `release`, streams "c", and answers with how often it ran. */
function gatedHandler(release: Promise<void>) {
  const state = { executions: 0, bodies: [] as unknown[] };
  const handler: DurableHandler = async (request) => {
    const body = (await request.json()) as { id: string };
    state.executions += 1;
    state.bodies.push(body);
    const answer = await step.run("answer", async () => {
      stream.push("a");
      stream.push("b");
      await release;
      stream.push("c");
      return "abc";
    });
    return Response.json({ id: body.id, answer });
  };
  return { handler, state };
}

/** A Durastream client's read of a POST: run id, committed chunks, final body. */
async function post(url: string, body: unknown, onMetadata?: () => void) {
  let runId = "";
  const committed: unknown[] = [];
  const pending: unknown[] = [];
  const response = await fetchWithStream(url, {
    fetchOpts: { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) },
    onMetadata: (metadata) => {
      runId = metadata.runId;
      onMetadata?.();
    },
    onData: ({ data }) => void pending.push(data),
    onCommit: () => void committed.push(...pending.splice(0)),
  });
  return { runId, committed, status: response.status, body: await response.json() };
}

describe("run keys over HTTP", () => {
  it("two concurrent SSE requests with one key start one run; both clients get the same committed output", async () => {
    const release = gate();
    const { handler, state } = gatedHandler(release.opened);
    const counted = countingStore();
    const app = await serve(handler, { durable: { store: counted.store } });
    let streaming = 0;
    const first = post(app.url, { id: "chat-1", text: "one" }, () => (streaming += 1));
    const second = post(app.url, { id: "chat-1", text: "two" }, () => (streaming += 1));
    await until(() => streaming === 2, "both clients streaming");
    expect(counted.conflicts()).toBe(1);
    release.open();
    const [a, b] = await Promise.all([first, second]);
    expect(state.executions).toBe(1);
    expect(a.runId).toBe(b.runId);
    expect(a.committed).toEqual(["a", "b", "c"]);
    expect(b.committed).toEqual(["a", "b", "c"]);
    expect(a.body).toEqual({ id: "chat-1", answer: "abc" });
    expect(b.body).toEqual(a.body);
    // The run that started got the handler's body in full although the key function read it.
    expect(state.bodies).toHaveLength(1);
    expect(["one", "two"]).toContain((state.bodies[0] as { text: string }).text);
  });

  it("a request after the run finished starts a new run; other keys and no key run apart", async () => {
    const release = gate();
    release.open();
    const { handler, state } = gatedHandler(release.opened);
    const app = await serve(handler);
    const first = await post(app.url, { id: "chat-1" });
    const again = await post(app.url, { id: "chat-1" });
    expect(again.runId).not.toBe(first.runId);
    expect(again.committed).toEqual(["a", "b", "c"]);
    const other = await post(app.url, { id: "chat-2" });
    const unkeyed = await post(app.url, { id: null });
    expect(new Set([first.runId, again.runId, other.runId, unkeyed.runId]).size).toBe(4);
    expect(state.executions).toBe(4);
  });

  it("a request without SSE whose key is held waits for the run's result, as the wait endpoint's long-poll", async () => {
    const release = gate();
    const { handler, state } = gatedHandler(release.opened);
    const counted = countingStore();
    const app = await serve(handler, { durable: { store: counted.store } });
    const init = { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: "chat-1" }) };
    const first = fetch(app.url, init);
    await until(() => state.executions === 1, "the run started");
    const second = fetch(app.url, init);
    await until(() => counted.conflicts() === 1, "the second request attached");
    release.open();
    const [a, b] = await Promise.all([first, second]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(await a.json()).toEqual({ id: "chat-1", answer: "abc" });
    expect(await b.json()).toEqual({ id: "chat-1", answer: "abc" });
    expect(state.executions).toBe(1);
  });

  it("a held key on a suspended run attaches too: the log from the start, then the rest once it wakes", async () => {
    let executions = 0;
    const handler: DurableHandler = async (request) => {
      await request.json();
      executions += 1;
      await step.run("before", () => void stream.push("before"));
      await step.sleep("nap", 300);
      await step.run("after", () => void stream.push("after"));
      return Response.json({ done: true });
    };
    const app = await serve(handler, { durable: { maxInlineWait: 20, pollInterval: 50 } });
    const started = await fetch(app.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: "sleepy" }),
      redirect: "manual",
    });
    expect(started.status).toBe(303); // suspended: sent to the wait endpoint
    const runId = started.headers.get("x-durastream-run-id");
    await started.body?.cancel();
    const attached = await post(app.url, { id: "sleepy" });
    expect(attached.runId).toBe(runId);
    expect(attached.committed).toEqual(["before", "after"]);
    expect(attached.body).toEqual({ done: true });
    expect(executions).toBe(2); // the first execution and the one after the nap; the attached request started none
  });

  it("durable.attach: 204 (null) when idle, the log from the start as SSE, the result as a long-poll; free again after the run", async () => {
    const release = gate();
    const { handler, state } = gatedHandler(release.opened);
    const store = new MemoryRunStore();
    let finds = 0;
    const find = store.findActiveRunByKey.bind(store);
    store.findActiveRunByKey = (endpointId, key) => {
      finds += 1;
      return find(endpointId, key);
    };
    const app = await serve(handler, { durable: { store } });
    const resume = `${app.url}/chat-1/stream`;
    expect((await fetch(resume)).status).toBe(204);
    expect(await app.durable.attach("chat", "chat-1", new Request(resume))).toBeNull();

    const started = post(app.url, { id: "chat-1" });
    await until(() => state.executions === 1, "the run started");
    const sse = await fetch(resume, { headers: { accept: "text/event-stream" } });
    expect(sse.status).toBe(200);
    const frames = collectFrames(sse);
    const longPoll = fetch(resume);
    await until(() => finds === 4, "the long-poll reached the store"); // two idle looks, the SSE request, the long-poll
    release.open();
    const [run, collected, polled] = await Promise.all([started, frames, longPoll]);
    expect(collected[0]).toMatchObject({ type: "metadata", runId: run.runId });
    expect((collected[0] as Extract<Frame, { type: "metadata" }>).resumeUrl).toMatch(new RegExp(`/api/durable/${run.runId}\\?token=`));
    expect(committedData(collected)).toEqual(["a", "b", "c"]);
    expect(collected.at(-1)).toMatchObject({ type: "result", status: "succeeded" });
    expect(polled.status).toBe(200);
    expect(await polled.json()).toEqual({ id: "chat-1", answer: "abc" });
    // Over: nothing to attach to.
    expect((await fetch(resume)).status).toBe(204);
    // A string that cannot be a key finds nothing; a non-string is a programming error.
    expect(await app.durable.attach("chat", "", new Request(resume))).toBeNull();
    expect(await app.durable.attach("chat", "x".repeat(513), new Request(resume))).toBeNull();
    await expect(app.durable.attach("chat", 42 as unknown as string, new Request(resume))).rejects.toThrow(InvalidOptionsError);
  });

  it("answers 400 saying what to return when the key function returns no valid key", async () => {
    const release = gate();
    release.open();
    const { handler, state } = gatedHandler(release.opened);
    const app = await serve(handler, { endpoint: { key: async (request) => ((await request.json()) as { key: never }).key } });
    for (const key of ["", "é".repeat(257), 42, { id: 1 }, "\uD800"]) {
      const response = await fetch(app.url, { method: "POST", body: JSON.stringify({ id: "x", key }) });
      expect(response.status).toBe(400);
      expect(await response.text()).toMatch(/must return the run's key as a non-empty string of at most 512 UTF-8 bytes .*or null\/undefined for no key/);
    }
    expect(state.executions).toBe(0);
    const fine = await fetch(app.url, { method: "POST", body: JSON.stringify({ id: "x", key: "é".repeat(256) }) });
    expect(fine.status).toBe(200);
    expect(state.executions).toBe(1);
  });

  it("refuses a key option that is no function, and a store without run keys", () => {
    const durable = createDurable();
    expect(() => durable.endpoint(async () => new Response("x"), { id: "a", key: "chat" as never })).toThrow(/"key" must be a function/);
    const store = new MemoryRunStore();
    const bare: RunStore = Object.assign(Object.create(store) as RunStore, { findActiveRunByKey: undefined });
    const other = createDurable({ store: bare });
    expect(() => other.endpoint(async () => new Response("x"), { id: "a", key: () => "k" })).toThrow(/needs a store that supports run keys/);
    void durable.close();
    void other.close();
  });
});
