// durable.cancel, DELETE on the wait endpoint, cancelRun and createDurableStream().cancel(), over
// loopback HTTP: a live run in this process, a suspended one, one executing on another instance.
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cancelRun, createDurableStream, fetchWithStream, resumeStream, type FetchWithStreamOptions } from "@durastream/client";
import { SqliteRunStore } from "@durastream/sqlite";
import { createManualTimers, passTime, until } from "@durastream/testing";
import { afterEach, describe, expect, it } from "vitest";
import { step, stream } from "./context.js";
import { createDurable, type Durable, type DurableOptions, type EndpointOptions } from "./create-durable.js";
import { createEndpointServer } from "./node/index.js";
import type { DurableHandler } from "./run-types.js";
import { MemoryRunStore } from "./store/memory-store.js";
import type { RunStore } from "./store/run-store.js";

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** `durable`'s endpoint `handler` (id `gen`) at /run and its wait endpoint at /api/durable/, on loopback HTTP. */
async function serve(durable: Durable, handler: DurableHandler, endpointOptions: EndpointOptions = {}) {
  const endpoint = durable.endpoint(handler, { id: "gen", ...endpointOptions });
  const wait = durable.waitEndpoint({ cors: { origin: "https://app.example" } });
  const server = createEndpointServer((request) => (new URL(request.url).pathname.startsWith("/api/durable/") ? wait(request) : endpoint(request)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/run`;
}

function newDurable(options: DurableOptions = {}): Durable {
  const durable = createDurable({ backoff: () => 0, ...options });
  closers.push(() => durable.close({ timeout: 0 }));
  return durable;
}

/** A source the test feeds by hand, that records why it was cancelled. */
function handFedSource() {
  let controller!: ReadableStreamDefaultController<string>;
  let cancelled: unknown;
  const source = new ReadableStream<string>({
    start(c) {
      controller = c;
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  return {
    source,
    push: (text: string) => controller.enqueue(text),
    close: () => controller.close(),
    cancelled: () => cancelled,
  };
}

/** A handler that streams `source` in step `gen` and records that step's signal; code after the step sets `after`. */
function streamingHandler(source: ReadableStream<string>, seen: { signal?: AbortSignal; after?: boolean }): DurableHandler {
  return async () => {
    await step.run("gen", ({ signal }) => {
      seen.signal = signal;
      return stream.pipe(source);
    });
    seen.after = true;
    return Response.json({ done: true });
  };
}

/** Records what a reader of the run sees, in order. */
function recorder() {
  const events: string[] = [];
  let resumeUrl: string | undefined;
  let runId: string | undefined;
  const callbacks: FetchWithStreamOptions = {
    onMetadata: (metadata) => {
      runId = metadata.runId;
      resumeUrl = metadata.resumeUrl ?? undefined;
      events.push("metadata");
    },
    onData: ({ data }) => events.push(`data ${String(data)}`),
    onCommit: () => events.push("commit"),
    onRollback: ({ willRetry, error }) => events.push(`rollback ${willRetry ? "retry" : "final"} ${error.message}`),
    onResult: ({ status, response }) => events.push(`result ${status} ${response.status}`),
  };
  return { events, callbacks, resumeUrl: () => resumeUrl, runId: () => runId };
}

/** Lets the event loop turn `count` times (work in flight settles; no clock involved). */
async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** The last frame of the run's log, and how many there are. */
async function logTail(store: RunStore, runId: string) {
  const frames = await store.readFrames(runId, undefined, 10_000);
  return { count: frames.length, last: frames.at(-1)?.type };
}

describe("durable.cancel", () => {
  it("cancels a live run of this process mid-stream: the step's signal aborts, a final rollback and the cancelled result, nothing after", async () => {
    const durable = newDurable();
    const fed = handFedSource();
    const seen: { signal?: AbortSignal; after?: boolean } = {};
    const url = await serve(durable, streamingHandler(fed.source, seen));
    const view = recorder();
    fed.push("one");
    const reading = fetchWithStream(url, view.callbacks);
    await until(() => view.events.includes("data one"), "the first chunk to arrive");

    expect(await durable.cancel(view.runId()!, "Stopped by the test.")).toBe(true);
    expect(seen.signal?.aborted).toBe(true);
    expect(seen.signal?.reason).toMatchObject({ code: "RUN_CANCELLED", message: "Stopped by the test." });

    const response = await reading;
    expect(response.status).toBe(500);
    expect(await response.text()).toBe("Stopped by the test.");
    expect(view.events).toEqual(["metadata", "data one", "rollback final Stopped by the test.", "result failed 500"]);
    await until(() => fed.cancelled() !== undefined, "the pipe to cancel its source");
    expect(fed.cancelled()).toMatchObject({ code: "RUN_CANCELLED" });

    const run = await durable.store.getRun(view.runId()!);
    expect(run).toMatchObject({ status: "failed", result: { status: 500 } });
    const tail = await logTail(durable.store, view.runId()!);
    expect(tail.last).toBe("result");
    // The execution stops: nothing more is written, the code after the step never runs.
    await turns(20);
    expect((await logTail(durable.store, view.runId()!)).count).toBe(tail.count);
    expect(seen.after).toBeUndefined();
    // Idempotent: a second cancel finds the run over.
    expect(await durable.cancel(view.runId()!)).toBe(false);
  });

  it("cancels a suspended run (sleeping): it never wakes, its readers get the cancelled result", async () => {
    const timers = createManualTimers();
    const durable = newDurable({ timers });
    let woke = false;
    const url = await serve(durable, async () => {
      await step.run("before", () => stream.push("before the nap"));
      await step.sleep("nap", 60_000);
      woke = true;
      return "rested";
    });
    const view = recorder();
    let redirected = false;
    const reading = fetchWithStream(url, { ...view.callbacks, onRedirect: () => void (redirected = true) });
    await until(() => redirected, "the run to suspend (redirect to the wait endpoint)");
    const runId = view.runId()!;
    // The redirect is sent once the suspension is stored; the reader goes on at the wait endpoint.
    expect((await durable.store.getRun(runId))?.status).toBe("suspended");

    expect(await durable.cancel(runId)).toBe(true);
    const response = await reading;
    expect(response.status).toBe(500);
    expect(await response.text()).toBe("The run was cancelled.");
    expect(view.events.at(-1)).toBe("result failed 500");
    expect(view.events.filter((event) => event.startsWith("rollback"))).toEqual([]); // nothing was open

    await passTime(timers, 120_000, 10_000);
    expect(woke).toBe(false);
    expect(await durable.store.getRun(runId)).toMatchObject({ status: "failed", wakeAt: null });
    expect(await durable.cancel(runId)).toBe(false);
  });

  it("cancels a run executing on another instance sharing the store: the other's step signal aborts at its lease renewal, it writes nothing after", async () => {
    const timers = createManualTimers();
    const store = new MemoryRunStore();
    const leaseDuration = 3_000;
    const executing = newDurable({ store, timers, leaseDuration });
    const other = newDurable({ store, timers, leaseDuration });
    const fed = handFedSource();
    const seen: { signal?: AbortSignal; after?: boolean } = {};
    const url = await serve(executing, streamingHandler(fed.source, seen));
    const view = recorder();
    fed.push("one");
    const reading = fetchWithStream(url, view.callbacks);
    await until(() => view.events.includes("data one"), "the first chunk");
    const runId = view.runId()!;

    expect(await other.cancel(runId, "Cancelled elsewhere.")).toBe(true);
    const response = await reading;
    expect(await response.text()).toBe("Cancelled elsewhere.");
    expect(view.events).toEqual(["metadata", "data one", "rollback final Cancelled elsewhere.", "result failed 500"]);
    const tail = await logTail(store, runId);
    expect(tail.last).toBe("result");
    // The executing instance has not heard of it yet (its step is idle): its next lease renewal fails.
    expect(seen.signal?.aborted).toBe(false);
    await passTime(timers, leaseDuration, 500);
    expect(seen.signal?.aborted).toBe(true);
    expect(fed.cancelled()).toBeDefined();
    expect(await logTail(store, runId)).toEqual(tail);
    expect(seen.after).toBeUndefined();
  });

  it("on SQLite, cancels a run another instance executes: its next write is refused, it stops and writes nothing after", async () => {
    const directory = mkdtempSync(join(tmpdir(), "durastream-cancel-"));
    const store = new SqliteRunStore({ path: join(directory, "runs.db") });
    closers.push(() => rmSync(directory, { recursive: true, force: true }));
    const executing = newDurable({ store });
    const other = newDurable({ store });
    const fed = handFedSource();
    const seen: { signal?: AbortSignal; after?: boolean } = {};
    const url = await serve(executing, streamingHandler(fed.source, seen));
    const view = recorder();
    fed.push("one");
    const reading = fetchWithStream(url, view.callbacks);
    await until(() => view.events.includes("data one"), "the first chunk");
    const runId = view.runId()!;

    expect(await other.cancel(runId)).toBe(true);
    expect((await reading).status).toBe(500);
    expect(view.events.slice(-2)).toEqual(["rollback final The run was cancelled.", "result failed 500"]);
    const tail = await logTail(store, runId);

    // The executing instance streams on: the write is refused (fenced), and it stops.
    fed.push("late");
    fed.close();
    await until(() => seen.signal?.aborted === true, "the fenced execution to stop");
    expect(seen.signal?.reason).toMatchObject({ code: "STORE_REFUSED" });
    expect(await logTail(store, runId)).toEqual(tail);
    expect(seen.after).toBeUndefined();
    expect(await store.getRun(runId)).toMatchObject({ status: "failed", result: { status: 500 } });
  });

  it("concurrent cancels (durable.cancel and DELETE) end the run once: exactly one resolves true", async () => {
    const durable = newDurable();
    const fed = handFedSource();
    const seen: { signal?: AbortSignal } = {};
    const url = await serve(durable, streamingHandler(fed.source, seen));
    const view = recorder();
    fed.push("one");
    const reading = fetchWithStream(url, view.callbacks);
    await until(() => view.events.includes("data one"), "the first chunk");

    const outcomes = await Promise.all([durable.cancel(view.runId()!), cancelRun(view.resumeUrl()!), durable.cancel(view.runId()!)]);
    expect(outcomes.filter(Boolean)).toHaveLength(1);
    expect((await reading).status).toBe(500);
    expect(view.events.filter((event) => event.startsWith("rollback") || event.startsWith("result"))).toHaveLength(2);
  });

  it("resolves false for a finished run and an unknown one", async () => {
    const durable = newDurable();
    const url = await serve(durable, async () => "done");
    const view = recorder();
    expect((await fetchWithStream(url, view.callbacks)).status).toBe(200);
    expect(await durable.cancel(view.runId()!)).toBe(false);
    expect(await durable.cancel("01JUNKNOWNRUN0000000000000")).toBe(false);
    expect(await cancelRun(view.resumeUrl()!)).toBe(false);
    expect(await durable.store.getRun(view.runId()!)).toMatchObject({ status: "succeeded" });
  });
});

describe("DELETE <resumeUrl> on the wait endpoint", () => {
  it("cancels with a valid token (204); 404 with a bad one, an expired one, and once the run is over", async () => {
    const timers = createManualTimers();
    // A lease far longer than the token's TTL: moving the clock past the TTL must not expire the lease.
    const durable = newDurable({ timers, resumeTokenTtl: 1_000, leaseDuration: 600_000 });
    const fed = handFedSource();
    const seen: { signal?: AbortSignal } = {};
    const url = await serve(durable, streamingHandler(fed.source, seen));
    const view = recorder();
    fed.push("one");
    const reading = fetchWithStream(url, view.callbacks);
    await until(() => view.events.includes("data one"), "the first chunk");
    const resumeUrl = new URL(view.resumeUrl()!);

    const bad = new URL(resumeUrl);
    bad.searchParams.set("token", `${bad.searchParams.get("token")!.split(".")[0]}.${"A".repeat(43)}`);
    expect((await fetch(bad, { method: "DELETE" })).status).toBe(404);
    const missing = new URL(resumeUrl);
    missing.searchParams.delete("token");
    expect((await fetch(missing, { method: "DELETE" })).status).toBe(404);
    expect(seen.signal?.aborted).toBe(false);

    const preflight = await fetch(resumeUrl, {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "DELETE" },
    });
    expect(preflight.headers.get("access-control-allow-methods")).toContain("DELETE");

    const cancelled = await fetch(resumeUrl, { method: "DELETE", headers: { origin: "https://app.example" } });
    expect(cancelled.status).toBe(204);
    expect(cancelled.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(seen.signal?.reason).toMatchObject({ code: "RUN_CANCELLED" });
    expect(await (await reading).text()).toBe("The run was cancelled through its resume URL.");
    expect((await fetch(resumeUrl, { method: "DELETE" })).status).toBe(404);

    // An expired token gets a 404 whatever the run's state: a fresh run, its URL past the TTL.
    const fed2 = handFedSource();
    const seen2: { signal?: AbortSignal } = {};
    const url2 = await serve(durable, streamingHandler(fed2.source, seen2), { id: "gen-2" });
    const view2 = recorder();
    fed2.push("one");
    const reading2 = fetchWithStream(url2, view2.callbacks);
    await until(() => view2.events.includes("data one"), "the second run's first chunk");
    timers.advance(2_000);
    expect((await fetch(view2.resumeUrl()!, { method: "DELETE" })).status).toBe(404);
    expect(seen2.signal?.aborted).toBe(false);
    expect(await durable.cancel(view2.runId()!)).toBe(true);
    await reading2;
  });

  it("answers other methods with 405, naming DELETE among the allowed ones", async () => {
    const durable = newDurable();
    const url = await serve(durable, async () => "done");
    const view = recorder();
    await fetchWithStream(url, view.callbacks);
    const response = await fetch(view.resumeUrl()!, { method: "PUT" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, DELETE, OPTIONS");
  });
});

describe("cancelling from the client", () => {
  it("cancelRun(resumeUrl) ends a live run: the reader gets the rollback and the result; a second call resolves false", async () => {
    const durable = newDurable();
    const fed = handFedSource();
    const seen: { signal?: AbortSignal } = {};
    const url = await serve(durable, streamingHandler(fed.source, seen));
    const view = recorder();
    fed.push("one");
    const reading = fetchWithStream(url, view.callbacks);
    await until(() => view.events.includes("data one"), "the first chunk");

    expect(await cancelRun(view.resumeUrl()!)).toBe(true);
    expect(seen.signal?.aborted).toBe(true);
    expect((await reading).status).toBe(500);
    expect(view.events.slice(-2)).toEqual(["rollback final The run was cancelled through its resume URL.", "result failed 500"]);
    expect(await cancelRun(view.resumeUrl()!)).toBe(false);
  });

  it("cancelRun rejects with an HTTP DurableClientError when the wait endpoint is not mounted for DELETE", async () => {
    const notMounted = createEndpointServer(async () => new Response("Method Not Allowed", { status: 405 }));
    await new Promise<void>((resolve) => notMounted.listen(0, "127.0.0.1", resolve));
    closers.push(() => {
      notMounted.closeAllConnections();
      notMounted.close();
    });
    const url = `http://127.0.0.1:${(notMounted.address() as AddressInfo).port}/api/durable/01J?token=t`;
    await expect(cancelRun(url)).rejects.toMatchObject({ name: "DurableClientError", code: "HTTP", status: 405 });
  });

  it("a resumed stream (resumeStream) can be stopped too", async () => {
    const durable = newDurable();
    const fed = handFedSource();
    const seen: { signal?: AbortSignal } = {};
    const url = await serve(durable, streamingHandler(fed.source, seen));
    const first = recorder();
    const controller = new AbortController();
    fed.push("one");
    const reading = fetchWithStream(url, { ...first.callbacks, fetchOpts: { signal: controller.signal } });
    await until(() => first.events.includes("data one"), "the first chunk");
    controller.abort();
    await expect(reading).rejects.toMatchObject({ name: "AbortError" });
    expect(seen.signal?.aborted).toBe(false); // the run goes on

    const resumed = recorder();
    fed.push("two");
    const resuming = resumeStream(first.resumeUrl()!, resumed.callbacks);
    await until(() => resumed.events.includes("data two"), "the resumed stream to catch up");
    expect(await cancelRun(resumed.resumeUrl()!)).toBe(true);
    expect((await resuming).status).toBe(500);
    expect(resumed.events).toEqual(["metadata", "data one", "data two", "rollback final The run was cancelled through its resume URL.", "result failed 500"]);
    expect(seen.signal?.reason).toMatchObject({ code: "RUN_CANCELLED" });
  });

  it("createDurableStream().cancel() stops the connection, cancels the run at the server and drops the rolled-back chunks", async () => {
    const durable = newDurable();
    const fed = handFedSource();
    const seen: { signal?: AbortSignal } = {};
    const url = await serve(durable, streamingHandler(fed.source, seen));
    const memory = new Map<string, string>();
    const storage = {
      getItem: (key: string) => memory.get(key) ?? null,
      setItem: (key: string, value: string) => void memory.set(key, value),
      removeItem: (key: string) => void memory.delete(key),
    };
    const durableStream = createDurableStream<string>({ url, fetchOpts: { method: "POST" }, persistKey: "answer", storage });
    fed.push("one");
    const started = durableStream.start();
    await until(() => durableStream.getSnapshot().uncommittedText === "one", "the first chunk to show");
    const { runId } = durableStream.getSnapshot();

    const cancelling = durableStream.cancel();
    expect(durableStream.getSnapshot().status).toBe("aborted");
    expect(await cancelling).toBe(true);
    await started;
    const snapshot = durableStream.getSnapshot();
    expect(snapshot).toMatchObject({ status: "aborted", uncommittedText: "", committedText: "" });
    expect(durableStream.hasPersistedRun()).toBe(false);
    expect(seen.signal?.reason).toMatchObject({ code: "RUN_CANCELLED" });
    expect(await durable.store.getRun(runId!)).toMatchObject({ status: "failed" });
    // Cancelling again: the run is over.
    expect(await durableStream.cancel()).toBe(false);
  });

  it("createDurableStream().abort() leaves the run going on; cancel() afterwards cancels it with the persisted URL", async () => {
    const durable = newDurable();
    const fed = handFedSource();
    const seen: { signal?: AbortSignal } = {};
    const url = await serve(durable, streamingHandler(fed.source, seen));
    const memory = new Map<string, string>();
    const storage = {
      getItem: (key: string) => memory.get(key) ?? null,
      setItem: (key: string, value: string) => void memory.set(key, value),
      removeItem: (key: string) => void memory.delete(key),
    };
    const durableStream = createDurableStream<string>({ url, fetchOpts: { method: "POST" }, persistKey: "answer", storage });
    fed.push("one");
    const started = durableStream.start();
    await until(() => durableStream.getSnapshot().uncommittedText === "one", "the first chunk to show");
    durableStream.abort();
    await started;
    expect(seen.signal?.aborted).toBe(false);
    expect(durableStream.hasPersistedRun()).toBe(true);

    // A new store (a reload) that has only the persisted run.
    const reloaded = createDurableStream<string>({ url, fetchOpts: { method: "POST" }, persistKey: "answer", storage });
    expect(await reloaded.cancel()).toBe(true);
    expect(seen.signal?.reason).toMatchObject({ code: "RUN_CANCELLED" });
    expect(reloaded.hasPersistedRun()).toBe(false);
  });
});
