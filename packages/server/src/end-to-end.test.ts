// End to end over real loopback HTTP: createEndpointServer + durable.endpoint on one side,
// fetchWithStream (or plain fetch) on the other.
import type { AddressInfo } from "node:net";
import { fetchWithStream, type FetchWithStreamOptions } from "@durastream/client";
import { hashStepId } from "@durastream/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { createManualTimers, passTime, until } from "@durastream/testing";
import { createDurable, type DurableOptions, type EndpointOptions } from "./create-durable.js";
import { step, stream } from "./context.js";
import type { DurableHandler } from "./run-types.js";
import { NonRetriableError } from "./errors.js";
import { createEndpointServer } from "./node/index.js";

const servers: { close(): void; closeAllConnections(): void }[] = [];
const closers: (() => void)[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
  for (const close of closers.splice(0)) close();
});

/** An app on loopback HTTP: the wait endpoint at /api/durable/<runId>, the durable endpoint elsewhere. */
async function serveApp(handler: DurableHandler, options: DurableOptions = {}, endpointOptions: EndpointOptions = {}) {
  const durable = createDurable({ backoff: () => 0, ...options });
  const endpoint = durable.endpoint(handler, endpointOptions);
  const waitEndpoint = durable.waitEndpoint();
  const server = createEndpointServer((request) => (new URL(request.url).pathname.startsWith("/api/durable/") ? waitEndpoint(request) : endpoint(request)));
  servers.push(server);
  closers.push(() => durable.close());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/run`, server, durable };
}

async function serve(handler: DurableHandler, options: DurableOptions = { backoff: () => 0 }, endpointOptions: EndpointOptions = {}): Promise<string> {
  return (await serveApp(handler, options, endpointOptions)).url;
}

/** What a UI would keep: committed chunks, and uncommitted chunks per step, plus a log of events. */
function committedView() {
  const committed: unknown[] = [];
  const pending = new Map<string | null, unknown[]>();
  const events: string[] = [];
  let done = 0;
  const callbacks: FetchWithStreamOptions = {
    onMetadata: ({ runId }) => events.push(`metadata ${runId.length}`),
    onData: ({ data, hashedStepId }) => {
      pending.set(hashedStepId, [...(pending.get(hashedStepId) ?? []), data]);
      events.push(`data ${JSON.stringify(data)}`);
    },
    onCommit: ({ hashedStepId }) => {
      committed.push(...(pending.get(hashedStepId) ?? []));
      pending.delete(hashedStepId);
      events.push("commit");
    },
    onRollback: ({ hashedStepId, attempt, willRetry }) => {
      pending.delete(hashedStepId);
      events.push(`rollback #${attempt}${willRetry ? " retry" : ""}`);
    },
    onStreamError: (error) => events.push(`error ${error.code}`),
    onDone: () => {
      done += 1;
    },
  };
  return { committed, pending, events, callbacks, done: () => done };
}

describe("durable endpoint over loopback HTTP", () => {
  it("streams two steps in order and resolves with the handler's response", async () => {
    const url = await serve(async () => {
      const a = await step.run("a", () =>
        stream.pipe(async function* () {
          yield "one ";
          yield "two ";
        }),
      );
      const b = await step.run("b", () => {
        stream.push("three");
        return 3;
      });
      return Response.json({ a, b });
    });
    const view = committedView();
    const response = await fetchWithStream(url, view.callbacks);
    expect(view.events).toEqual(["metadata 26", 'data "one "', 'data "two "', "commit", 'data "three"', "commit"]);
    expect(view.committed).toEqual(["one ", "two ", "three"]);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ a: "one two ", b: 3 });
    expect(view.done()).toBe(1);
  });

  it("a step that fails twice then succeeds: two rollbacks, the committed chunks exactly once", async () => {
    const url = await serve(async () => {
      const text = await step.run("flaky", async ({ attempt }) => {
        stream.push(`attempt ${attempt}: `);
        const piped = await stream.pipe(async function* () {
          yield "hello";
          if (attempt < 3) throw new Error(`network hiccup ${attempt}`);
          yield " world";
        });
        return piped;
      });
      return new Response(text);
    });
    const view = committedView();
    const response = await fetchWithStream(url, view.callbacks);
    expect(view.events.filter((event) => event.startsWith("rollback"))).toEqual(["rollback #1 retry", "rollback #2 retry"]);
    expect(view.committed).toEqual(["attempt 3: ", "hello", " world"]);
    expect(view.pending.size).toBe(0);
    expect(await response.text()).toBe("hello world");
  });

  it("NonRetriableError: one rollback, then fetchWithStream resolves with the 500 response", async () => {
    let attempts = 0;
    const url = await serve(async () => {
      await step.run("check", () => {
        attempts += 1;
        stream.push("checking");
        throw new NonRetriableError("quota exceeded");
      });
      return new Response("unreachable");
    });
    const view = committedView();
    const response = await fetchWithStream(url, view.callbacks);
    expect(attempts).toBe(1);
    expect(view.events.slice(1)).toEqual(['data "checking"', "rollback #1"]);
    expect(view.committed).toEqual([]);
    expect(response.status).toBe(500);
    expect(await response.text()).toBe('Step "check" failed after 1 attempt: quota exceeded');
  });

  it("keeps a 202 with custom headers and a binary body exactly", async () => {
    const bytes = new Uint8Array([0, 255, 128, 10, 13]);
    const url = await serve(async () => {
      await step.run("queue", () => stream.push("queued"));
      const headers = new Headers({ "x-queue-position": "7", "content-type": "application/octet-stream" });
      headers.append("set-cookie", "a=1");
      headers.append("set-cookie", "b=2");
      return new Response(bytes, { status: 202, statusText: "Queued", headers });
    });
    const response = await fetchWithStream(url, {});
    expect(response.status).toBe(202);
    expect(response.statusText).toBe("Queued");
    expect(response.headers.get("x-queue-position")).toBe("7");
    expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes);
  });

  it("a handler that streams nothing sends the metadata and the result only", async () => {
    const url = await serve(async () => Response.json({ quiet: true }));
    const view = committedView();
    const response = await fetchWithStream(url, view.callbacks);
    expect(view.events).toEqual(["metadata 26"]);
    expect(await response.json()).toEqual({ quiet: true });
  });

  it("a plain fetch without the SSE header gets the handler's raw response", async () => {
    const url = await serve(async () => {
      await step.run("work", () => stream.push("not sent to plain clients"));
      return new Response("raw body", { status: 201, headers: { "x-raw": "1" } });
    });
    const response = await fetch(url);
    expect(response.status).toBe(201);
    expect(response.headers.get("x-raw")).toBe("1");
    expect(response.headers.get("content-type")).toBe("text/plain;charset=UTF-8");
    expect(await response.text()).toBe("raw body");
  });

  it("parallel streaming steps interleave and commit or roll back on their own", async () => {
    let releaseSlow!: () => void;
    const slowMayGoOn = new Promise<void>((resolve) => (releaseSlow = resolve));
    const url = await serve(async () => {
      const [slow, fast] = await Promise.all([
        step.run("slow", async ({ attempt }) => {
          stream.push(`s${attempt}-1`);
          await slowMayGoOn;
          stream.push(`s${attempt}-2`);
          if (attempt === 1) throw new Error("slow failed once");
          return "slow";
        }),
        step.run("fast", async () => {
          stream.push("f-1");
          stream.push("f-2");
          await Promise.resolve();
          releaseSlow();
          return "fast";
        }),
      ]);
      return Response.json([slow, fast]);
    });
    const [slowId, fastId] = [await hashStepId("slow"), await hashStepId("fast")];
    const byStep: Record<string, string[]> = { [slowId]: [], [fastId]: [] };
    const order: string[] = [];
    const view = committedView();
    const response = await fetchWithStream(url, {
      ...view.callbacks,
      onData: (chunk) => {
        view.callbacks.onData!(chunk);
        byStep[chunk.hashedStepId!]!.push(String(chunk.data));
        order.push(String(chunk.data));
      },
    });
    expect(order.indexOf("f-1")).toBeLessThan(order.indexOf("s1-2"));
    expect(order.indexOf("s1-1")).toBeLessThan(order.indexOf("f-1"));
    expect(byStep[slowId]).toEqual(["s1-1", "s1-2", "s2-1", "s2-2"]);
    expect(byStep[fastId]).toEqual(["f-1", "f-2"]);
    expect([...view.committed].sort()).toEqual(["f-1", "f-2", "s2-1", "s2-2"]);
    expect(view.events.filter((event) => event.startsWith("rollback"))).toEqual(["rollback #1 retry"]);
    expect(await response.json()).toEqual(["slow", "fast"]);
  });

  it("pipes all three source kinds: a byte ReadableStream, an async iterable, a generator function", async () => {
    const url = await serve(async () => {
      const fromBytes = await step.run("bytes", () => {
        const encoded = new TextEncoder().encode("héllo 中文 🎉");
        return stream.pipe(
          new ReadableStream<Uint8Array>({
            start(controller) {
              // Split inside the multibyte characters: the pipe must decode across chunks.
              for (const [from, to] of [
                [0, 2],
                [2, 9],
                [9, 11],
                [11, encoded.length],
              ] as const)
                controller.enqueue(encoded.slice(from, to));
              controller.close();
            },
          }),
        );
      });
      const fromIterable = await step.run("iterable", () => {
        const iterable: AsyncIterable<string> = {
          async *[Symbol.asyncIterator]() {
            yield "it";
            yield "erable";
          },
        };
        return stream.pipe(iterable);
      });
      const fromGenerator = await step.run("generator", () =>
        stream.pipe(async function* () {
          yield "gen";
          yield "erator";
        }),
      );
      return Response.json([fromBytes, fromIterable, fromGenerator]);
    });
    const view = committedView();
    const response = await fetchWithStream(url, view.callbacks);
    expect(await response.json()).toEqual(["héllo 中文 🎉", "iterable", "generator"]);
    expect(view.committed.join("")).toBe("héllo 中文 🎉iterablegenerator");
    expect(view.committed.slice(-4)).toEqual(["it", "erable", "gen", "erator"]);
  });

  it("with cancelOnDisconnect, a client abort cancels the pipe's source and rejects with the abort reason", async () => {
    let sourceCancelled!: (reason: unknown) => void;
    const cancelled = new Promise<unknown>((resolve) => (sourceCancelled = resolve));
    let pulls = 0;
    const url = await serve(
      async () => {
        await step.run("endless", () =>
          stream.pipe(
            new ReadableStream<string>({
              pull(controller) {
                pulls += 1;
                controller.enqueue(`token ${pulls} `);
                // One token per pull; the consumer decides the pace.
              },
              cancel(reason) {
                sourceCancelled(reason);
              },
            }),
          ),
        );
        return new Response("unreachable");
      },
      undefined,
      { cancelOnDisconnect: true },
    );
    const controller = new AbortController();
    const view = committedView();
    let received = 0;
    const request = fetchWithStream(url, {
      ...view.callbacks,
      fetchOpts: { signal: controller.signal },
      onData: () => {
        received += 1;
        if (received === 3) controller.abort();
      },
    });
    await expect(request).rejects.toMatchObject({ name: "AbortError" });
    const reason = await cancelled;
    expect(reason).toMatchObject({ code: "RUN_CANCELLED" });
    const pullsAtCancel = pulls;
    expect(view.events).not.toContain("error NETWORK");
    expect(view.done()).toBe(1);
    // The source is not pulled after it was cancelled.
    await new Promise((resolve) => setImmediate(resolve));
    expect(pulls).toBe(pullsAtCancel);
  });

  it("bad push data: a typed error in the step, a rollback, and a 500 result, not a broken stream", async () => {
    const url = await serve(async () => {
      await step.run("bad", () => stream.push({ when: 10n }));
      return new Response("unreachable");
    });
    const view = committedView();
    const response = await fetchWithStream(url, view.callbacks);
    expect(view.events.slice(1)).toEqual(["rollback #1"]);
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(body).toContain("stream.push(data): data must be JSON-serializable: $.when is a BigInt");
    expect(view.events).not.toContain("error PROTOCOL");
  });

  it("a POST body reaches the handler through fetchWithStream", async () => {
    const url = await serve(async (request) => {
      const { prompt } = (await request.json()) as { prompt: string };
      await step.run("echo", () => stream.push(prompt.toUpperCase()));
      return new Response(request.method);
    });
    const view = committedView();
    const response = await fetchWithStream(url, {
      ...view.callbacks,
      fetchOpts: { method: "POST", body: JSON.stringify({ prompt: "loud" }), headers: [["content-type", "application/json"]] },
    });
    expect(view.committed).toEqual(["LOUD"]);
    expect(await response.text()).toBe("POST");
  });

  it("dropped connections mid-step: the client reconnects through the resume URL and the committed output is exact", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { url, server } = await serveApp(async () => {
      stream.push("intro ");
      const text = await step.run("story", async () => {
        stream.push("once ");
        await gate;
        stream.push("upon a time");
        return "done";
      });
      return new Response(text);
    });
    const view = committedView();
    const reconnects: string[] = [];
    let dropped = false;
    const result = fetchWithStream(url, {
      ...view.callbacks,
      reconnect: { initialDelay: 0 },
      onReconnect: ({ offset }) => reconnects.push(String(offset)),
      onData: (chunk) => {
        view.callbacks.onData!(chunk);
        if (chunk.data === "once " && !dropped) {
          dropped = true;
          server.closeAllConnections(); // the network drops; the run goes on in the server
          setImmediate(release);
        }
      },
    });
    const response = await result;
    expect(reconnects.length).toBeGreaterThanOrEqual(1);
    expect(reconnects[0]).toBe("1-3");
    expect(view.committed).toEqual(["intro ", "once ", "upon a time"]);
    expect(view.events.filter((event) => event.startsWith("data"))).toEqual(['data "intro "', 'data "once "', 'data "upon a time"']);
    expect(await response.text()).toBe("done");
    expect(view.done()).toBe(1);
  });

  it("a sleep redirects the client to the wait endpoint over HTTP and the text continues", async () => {
    const timers = createManualTimers();
    const { url } = await serveApp(
      async () => {
        const first = await step.run("first", () =>
          stream.pipe(async function* () {
            yield "Hello";
          }),
        );
        await step.sleep("pause", "10m");
        const second = await step.run("second", () =>
          stream.pipe(async function* () {
            yield ", world";
          }),
        );
        return Response.json(first + second);
      },
      { timers, maxInlineWait: 1000 },
    );
    const view = committedView();
    const redirects: string[] = [];
    const result = fetchWithStream(url, { ...view.callbacks, onRedirect: ({ url: to, reason }) => redirects.push(`${reason} ${new URL(to).pathname}`) });
    await until(() => redirects.length === 1);
    await passTime(timers, 600_000);
    const response = await result;
    expect(redirects[0]).toMatch(/^sleep \/api\/durable\/[0-9A-Z]{26}$/);
    expect(view.committed.join("")).toBe("Hello, world");
    expect(await response.json()).toBe("Hello, world");
  });

  it("a plain client follows the 303 to the wait endpoint and gets the exact final response by long-polling", async () => {
    const timers = createManualTimers();
    const { url } = await serveApp(
      async (request) => {
        const { n } = (await request.json()) as { n: number };
        await step.sleep("queue", "1h");
        return new Response(JSON.stringify({ doubled: n * 2 }), { status: 202, headers: { "x-job": "kept", "content-type": "application/json" } });
      },
      { timers },
    );
    const pending = fetch(url, { method: "POST", body: JSON.stringify({ n: 21 }), headers: { "content-type": "application/json" } });
    await until(() => timers.scheduled.includes(25_000), "the long-poll to start");
    await passTime(timers, 3_600_000, 10_000);
    let response = await pending;
    expect(response.redirected).toBe(true);
    // The long-poll timed out while the run slept: 202 + Retry-After + Location says "ask again".
    expect(response.headers.get("retry-after")).toBe("1");
    const location = response.headers.get("location")!;
    expect(new URL(location).pathname).toBe(new URL(response.url).pathname);
    response = await fetch(location);
    expect(response.status).toBe(202);
    expect(response.headers.get("retry-after")).toBeNull();
    expect(response.headers.get("x-job")).toBe("kept");
    expect(await response.json()).toEqual({ doubled: 42 });
  });
});
