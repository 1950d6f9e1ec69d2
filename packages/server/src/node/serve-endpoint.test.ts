import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { InvalidOptionsError } from "@durastream/protocol";
import { afterEach, describe, expect, test, vi } from "vitest";
import { attachTextBody } from "../text-body.js";
import { createEndpointServer, serveEndpoint, type ServeEndpointOptions } from "./index.js";

type Handler = (request: Request) => Response | Promise<Response>;

const servers: http.Server[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    ),
  );
});

async function listen(server: http.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

async function start(handler: Handler, options?: ServeEndpointOptions): Promise<number> {
  return listen(http.createServer(serveEndpoint(handler, options)));
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

interface ClientResponse {
  status: number | undefined;
  statusMessage: string | undefined;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, options: http.RequestOptions = {}, body?: string): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const outgoing = http.request({ host: "127.0.0.1", port, ...options }, (incoming) => {
      let text = "";
      incoming.setEncoding("utf8");
      incoming.on("data", (chunk: string) => {
        text += chunk;
      });
      incoming.on("error", reject);
      incoming.on("end", () => resolve({ status: incoming.statusCode, statusMessage: incoming.statusMessage, headers: incoming.headers, body: text }));
    });
    outgoing.on("error", reject);
    outgoing.end(body);
  });
}

/** Sends raw bytes and collects everything the server sends until it closes the connection. */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(text));
    let received = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      received += chunk;
    });
    socket.on("error", reject);
    socket.on("end", () => resolve(received));
  });
}

/** A response body that never ends on its own and records when it is cancelled. */
function cancellableBody(first: string): { body: ReadableStream<Uint8Array>; cancelled: Promise<unknown> } {
  const cancelled = deferred<unknown>();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(first));
    },
    pull: () => new Promise<void>(() => {}),
    cancel(reason) {
      cancelled.resolve(reason);
    },
  });
  return { body, cancelled: cancelled.promise };
}

describe("serveEndpoint request conversion", () => {
  test("method, absolute URL with query and all headers (repeated ones appended) reach the handler", async () => {
    const seen = deferred<{ method: string; url: string; multi: string | null; custom: string | null; body: unknown }>();
    const port = await start((webRequest) => {
      seen.resolve({
        method: webRequest.method,
        url: webRequest.url,
        multi: webRequest.headers.get("x-multi"),
        custom: webRequest.headers.get("x-custom"),
        body: webRequest.body,
      });
      return new Response("ok");
    });

    const response = await request(port, {
      method: "GET",
      path: "/runs/abc?offset=12&live=1",
      headers: { "x-multi": ["first", "second"], "X-Custom": "Value" },
    });

    expect(response.body).toBe("ok");
    expect(await seen.promise).toEqual({
      method: "GET",
      url: `http://127.0.0.1:${port}/runs/abc?offset=12&live=1`,
      multi: "first, second",
      custom: "Value",
      body: null,
    });
  });

  test("custom methods such as PATCH and DELETE keep their method name", async () => {
    const methods: string[] = [];
    const port = await start((webRequest) => {
      methods.push(webRequest.method);
      return new Response(null, { status: 204 });
    });

    await request(port, { method: "PATCH", path: "/" }, "{}");
    await request(port, { method: "DELETE", path: "/" });

    expect(methods).toEqual(["PATCH", "DELETE"]);
  });

  test("a large POST body is streamed to the handler before the client has finished sending it", async () => {
    const firstChunkSeen = deferred();
    const port = await start(async (webRequest) => {
      const hash = createHash("sha256");
      let bytes = 0;
      const reader = webRequest.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (bytes === 0) firstChunkSeen.resolve();
        bytes += value.byteLength;
        hash.update(value);
      }
      return Response.json({ bytes, sha256: hash.digest("hex") });
    });

    const payload = randomBytes(5 * 1024 * 1024);
    const chunkSize = 64 * 1024;
    const responsePromise = new Promise<string>((resolve, reject) => {
      const outgoing = http.request({ host: "127.0.0.1", port, method: "POST", path: "/upload" }, (incoming) => {
        let text = "";
        incoming.setEncoding("utf8");
        incoming.on("data", (chunk: string) => (text += chunk));
        incoming.on("end", () => resolve(text));
      });
      outgoing.on("error", reject);
      void (async () => {
        outgoing.write(payload.subarray(0, chunkSize));
        // The rest is only sent once the handler has read the start: a buffering adapter deadlocks here.
        await firstChunkSeen.promise;
        for (let offset = chunkSize; offset < payload.length; offset += chunkSize) {
          if (!outgoing.write(payload.subarray(offset, offset + chunkSize))) {
            await new Promise((resolve) => outgoing.once("drain", resolve));
          }
        }
        outgoing.end();
      })();
    });

    expect(JSON.parse(await responsePromise)).toEqual({
      bytes: payload.length,
      sha256: createHash("sha256").update(payload).digest("hex"),
    });
  });

  test("a request body the handler leaves unread is discarded so the keep-alive connection serves the next request", async () => {
    let serverRequest: http.IncomingMessage | undefined;
    const listener = serveEndpoint(async (webRequest) => {
      if (webRequest.method === "POST") {
        await webRequest.body!.getReader().read();
        // Respond only once the adapter has paused the upload because nobody reads the rest.
        while (serverRequest?.readableFlowing !== false) await new Promise((resolve) => setImmediate(resolve));
      }
      return new Response(webRequest.method);
    });
    const port = await listen(
      http.createServer((incoming, outgoing) => {
        serverRequest = incoming;
        listener(incoming, outgoing);
      }),
    );
    const bodyLength = 4 * 1024 * 1024;

    // Both requests go down one connection: the GET is only parsed once the POST body is drained.
    const raw = await rawExchange(
      port,
      `POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: ${bodyLength}\r\n\r\n${"x".repeat(bodyLength)}` +
        "GET /next HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n",
    );

    const statusLines = raw.match(/HTTP\/1\.1 \d+ \w+/g);
    expect(statusLines).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]);
    expect(raw).toMatch(/\r\n\r\n(?:4\r\n)?POST[\s\S]*\r\n\r\n(?:3\r\n)?GET/);
  });

  test("without a Host header (HTTP/1.0) the URL uses the local address", async () => {
    const url = deferred<string>();
    const port = await start((webRequest) => {
      url.resolve(webRequest.url);
      return new Response("ok");
    });

    const raw = await rawExchange(port, "GET /no-host?x=1 HTTP/1.0\r\n\r\n");

    expect(raw).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(await url.promise).toBe(`http://127.0.0.1:${port}/no-host?x=1`);
  });

  test('the path a router stripped from url (Express\'s app.use("/api", router)) is taken whole from originalUrl', async () => {
    const url = deferred<string>();
    const listener = serveEndpoint((webRequest) => {
      url.resolve(webRequest.url);
      return new Response("ok");
    });
    const port = await listen(
      http.createServer((incoming, outgoing) => {
        // What Express does for a router mounted at /api: url loses the mount path, originalUrl keeps it.
        Object.assign(incoming, { originalUrl: incoming.url, url: incoming.url!.slice("/api".length) });
        listener(incoming, outgoing);
      }),
    );
    await request(port, { path: "/api/chat?x=1", headers: { host: "app.test" } });
    expect(await url.promise).toBe("http://app.test/api/chat?x=1");
  });

  test("a path starting with // stays a path and cannot change the host", async () => {
    const url = deferred<string>();
    const port = await start((webRequest) => {
      url.resolve(webRequest.url);
      return new Response("ok");
    });

    await rawExchange(port, "GET //evil.example/x HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n");

    const parsed = new URL(await url.promise);
    expect([parsed.host, parsed.pathname]).toEqual(["app.test", "//evil.example/x"]);
  });

  test.each(["user@evil.example", "app.test/admin?from="])("Host header %j gets 400 without calling the handler", async (host) => {
    const handler = vi.fn(() => new Response("ok"));
    const port = await start(handler);

    const raw = await rawExchange(port, `GET /x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);

    expect(raw).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect(handler).not.toHaveBeenCalled();
  });

  test("a method the Fetch standard forbids (TRACE) gets 400 without calling the handler", async () => {
    const handler = vi.fn(() => new Response("ok"));
    const port = await start(handler);

    const raw = await rawExchange(port, "TRACE / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n");

    expect(raw).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect(handler).not.toHaveBeenCalled();
  });

  test("x-forwarded-proto is ignored by default", async () => {
    const url = deferred<string>();
    const port = await start((webRequest) => {
      url.resolve(webRequest.url);
      return new Response("ok");
    });

    await request(port, { path: "/a", headers: { "x-forwarded-proto": "https" } });

    expect(await url.promise).toBe(`http://127.0.0.1:${port}/a`);
  });

  test.each([
    ["https", "https"],
    ["https, http", "https"],
    ["HTTPS", "https"],
    ["gopher", "http"],
  ])("with trustProxy, x-forwarded-proto %j gives protocol %s", async (header, protocol) => {
    const url = deferred<string>();
    const port = await start(
      (webRequest) => {
        url.resolve(webRequest.url);
        return new Response("ok");
      },
      { trustProxy: true },
    );

    await request(port, { path: "/a", headers: { "x-forwarded-proto": header } });

    expect(await url.promise).toBe(`${protocol}://127.0.0.1:${port}/a`);
  });

  // The same headers and rules as createDurable({ trustProxy }) (forwarded-headers.ts).
  test.each([
    [{ "x-forwarded-host": "chat.example, inner", "x-forwarded-proto": "HTTPS, http" }, true, "https://chat.example/a"],
    [{ "x-forwarded-host": "chat.example:8443" }, true, "http://chat.example:8443/a"],
    [{ "x-forwarded-host": "evil.example/x", "x-forwarded-proto": "gopher" }, true, "http://app.test/a"],
    [{ "x-forwarded-host": "chat.example", "x-forwarded-proto": "https" }, false, "http://app.test/a"],
  ])("forwarded headers %j with trustProxy %s give %s", async (headers, trustProxy, expected) => {
    const url = deferred<string>();
    const port = await start(
      (webRequest) => {
        url.resolve(webRequest.url);
        return new Response("ok");
      },
      { trustProxy },
    );

    await request(port, { path: "/a", headers: { host: "app.test", ...headers } });

    expect(await url.promise).toBe(expected);
  });
});

describe("serveEndpoint response writing", () => {
  test("status, statusText and headers are written, with each set-cookie kept separate", async () => {
    const port = await start(() => {
      const headers = new Headers({ "content-type": "application/json", "x-custom": "value" });
      headers.append("set-cookie", "a=1; Path=/");
      headers.append("set-cookie", "b=2; HttpOnly");
      return new Response('{"ok":true}', { status: 201, statusText: "Made It", headers });
    });

    const response = await request(port, { path: "/" });

    expect(response.status).toBe(201);
    expect(response.statusMessage).toBe("Made It");
    expect(response.headers["content-type"]).toBe("application/json");
    expect(response.headers["x-custom"]).toBe("value");
    expect(response.headers["set-cookie"]).toEqual(["a=1; Path=/", "b=2; HttpOnly"]);
    expect(response.body).toBe('{"ok":true}');
  });

  test("headers reach the client before the first chunk, and each chunk before the body ends", async () => {
    const headersReceived = deferred();
    const firstChunkReceived = deferred();
    const encoder = new TextEncoder();
    let step = 0;
    const port = await start(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            async pull(controller) {
              step += 1;
              if (step === 1) {
                await headersReceived.promise;
                controller.enqueue(encoder.encode("data: first\n\n"));
              } else {
                await firstChunkReceived.promise;
                controller.enqueue(encoder.encode("data: second\n\n"));
                controller.close();
              }
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        ),
    );

    const response = await fetch(`http://127.0.0.1:${port}/events`);
    headersReceived.resolve();
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("first")) {
      const { done, value } = await reader.read();
      if (done) break;
      text += value;
    }
    expect(text).toBe("data: first\n\n");
    firstChunkReceived.resolve();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += value;
    }
    expect(text).toBe("data: first\n\ndata: second\n\n");
  });

  test("string chunks are written as UTF-8 and empty chunks do not end the body early", async () => {
    const port = await start(
      () =>
        new Response(
          new ReadableStream<unknown>({
            start(controller) {
              controller.enqueue("héllo ");
              controller.enqueue(new Uint8Array(0));
              controller.enqueue("");
              controller.enqueue(new TextEncoder().encode("wörld"));
              controller.close();
            },
          }) as ReadableStream<Uint8Array>,
        ),
    );

    const response = await request(port, { path: "/" });

    expect(response.body).toBe("héllo wörld");
  });

  test("a slow client holds back the producer: the body is not read far ahead of what was sent", async () => {
    const chunkSize = 64 * 1024;
    const totalChunks = 1024; // 64 MiB
    const chunk = new Uint8Array(chunkSize).fill(120);
    let pulls = 0;
    const listener = serveEndpoint(
      () =>
        new Response(
          new ReadableStream<Uint8Array>(
            {
              pull(controller) {
                pulls += 1;
                if (pulls > totalChunks) controller.close();
                else controller.enqueue(chunk);
              },
            },
            { highWaterMark: 0 },
          ),
        ),
    );
    let serverResponse: http.ServerResponse | undefined;
    const port = await listen(
      http.createServer((incoming, outgoing) => {
        serverResponse = outgoing;
        listener(incoming, outgoing);
      }),
    );

    const incoming = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get({ host: "127.0.0.1", port, path: "/" }, resolve).on("error", reject),
    );
    incoming.pause();

    // Wait, in event-loop turns, until the server is blocked on a full socket and the producer
    // has stopped being pulled. An adapter that ignores backpressure reads all 1024 chunks in one
    // burst of microtasks before the first turn completes.
    let lastPulls = -1;
    let quietTurns = 0;
    while (quietTurns < 50 && pulls <= totalChunks) {
      await new Promise((resolve) => setImmediate(resolve));
      if (pulls === lastPulls && serverResponse?.socket?.writableNeedDrain === true) quietTurns += 1;
      else {
        quietTurns = 0;
        lastPulls = pulls;
      }
    }
    expect(pulls).toBeLessThan(totalChunks / 4);

    let received = 0;
    incoming.on("data", (data: Buffer) => {
      received += data.length;
    });
    incoming.resume();
    await new Promise((resolve) => incoming.on("end", resolve));
    expect(received).toBe(chunkSize * totalChunks);
    expect(pulls).toBe(totalChunks + 1);
  });

  test("HEAD gets headers only, and the unused response body is cancelled", async () => {
    const { body, cancelled } = cancellableBody("not sent");
    const port = await start(() => new Response(body, { headers: { "x-kind": "head" } }));

    const raw = await rawExchange(port, "HEAD / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n");

    expect(raw).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(raw).toMatch(/\r\nx-kind: head\r\n/);
    expect(raw.endsWith("\r\n\r\n")).toBe(true);
    expect(raw).not.toContain("not sent");
    await cancelled;
  });

  test.each([204, 304])("status %i is sent without a body", async (status) => {
    const port = await start(() => new Response(null, { status, headers: { "x-status": String(status) } }));

    const raw = await rawExchange(port, "GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n");

    expect(raw).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(raw).toMatch(new RegExp(`\\r\\nx-status: ${status}\\r\\n`));
    expect(raw.endsWith("\r\n\r\n")).toBe(true);
  });
});

describe("serveEndpoint text bodies", () => {
  test("a response carrying a text body source is written from the source, piece by piece, not from its Web body", async () => {
    const port = await start(() =>
      attachTextBody(new Response("the Web body, never read", { headers: { "content-type": "text/event-stream" } }), {
        start(sink) {
          sink.write("event: data\ndata: 1\n\n");
          sink.write("");
          sink.write("event: data\ndata: é2\n\n");
          sink.end();
        },
        resume: () => {},
        cancel: () => {},
      }),
    );
    const response = await request(port, { path: "/" });
    expect(response.status).toBe(200);
    expect(response.headers["content-type"]).toBe("text/event-stream");
    expect(response.body).toBe("event: data\ndata: 1\n\nevent: data\ndata: é2\n\n");
  });

  test("a full socket pauses the source until it drains, and nothing is lost", async () => {
    const piece = "x".repeat(64 * 1024);
    const pieces = 64;
    let resumes = 0;
    const port = await start(() => {
      let sent = 0;
      let sink: { write(text: string): boolean; end(): void } | undefined;
      const pump = () => {
        while (sent < pieces) {
          sent += 1;
          if (!sink!.write(piece)) return;
        }
        sink!.end();
      };
      return attachTextBody(new Response("unused"), {
        start(target) {
          sink = target;
          pump();
        },
        resume() {
          resumes += 1;
          pump();
        },
        cancel: () => {},
      });
    });
    const response = await request(port, { path: "/" });
    expect(response.body.length).toBe(piece.length * pieces);
    expect(resumes).toBeGreaterThan(0);
  });

  test("a disconnect cancels the source with the disconnect reason", async () => {
    const cancelled = deferred<unknown>();
    const port = await start(() =>
      attachTextBody(new Response("unused", { headers: { "content-type": "text/event-stream" } }), {
        start: (sink) => void sink.write("data: hello\n\n"),
        resume: () => {},
        cancel: (reason) => cancelled.resolve(reason),
      }),
    );
    const outgoing = http.get({ host: "127.0.0.1", port, path: "/" });
    outgoing.on("error", () => {});
    const incoming = await new Promise<http.IncomingMessage>((resolve) => outgoing.on("response", resolve));
    await new Promise((resolve) => incoming.once("data", resolve));
    outgoing.destroy();
    expect(((await cancelled.promise) as DOMException).name).toBe("AbortError");
  });

  test("a source that fails mid-body is reported and the connection destroyed", async () => {
    const onError = vi.fn();
    const port = await start(
      () =>
        attachTextBody(new Response("unused"), {
          start(sink) {
            sink.write("partial");
            setImmediate(() => sink.error(new Error("store went away")));
          },
          resume: () => {},
          cancel: () => {},
        }),
      { onError },
    );
    await expect(request(port, { path: "/" })).rejects.toThrow();
    expect(onError).toHaveBeenCalledWith({ phase: "body", error: expect.objectContaining({ message: "store went away" }) });
  });
});

describe("serveEndpoint client disconnects", () => {
  test("a disconnect mid-stream aborts request.signal and cancels the response body with that reason", async () => {
    const { body, cancelled } = cancellableBody("data: hello\n\n");
    const aborted = deferred<AbortSignal>();
    const port = await start((webRequest) => {
      webRequest.signal.addEventListener("abort", () => aborted.resolve(webRequest.signal));
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    });

    const outgoing = http.get({ host: "127.0.0.1", port, path: "/" });
    outgoing.on("error", () => {});
    const incoming = await new Promise<http.IncomingMessage>((resolve) => outgoing.on("response", resolve));
    await new Promise((resolve) => incoming.once("data", resolve));
    outgoing.destroy();

    const signal = await aborted.promise;
    const reason = await cancelled;
    expect(signal.aborted).toBe(true);
    expect(reason).toBe(signal.reason);
    expect(reason).toBeInstanceOf(DOMException);
    expect((reason as DOMException).name).toBe("AbortError");
  });

  test("a disconnect before the handler returns aborts the signal, and the late response body is cancelled", async () => {
    const handlerStarted = deferred();
    const { body, cancelled } = cancellableBody("too late");
    const onError = vi.fn();
    const port = await start(
      async (webRequest) => {
        handlerStarted.resolve();
        await new Promise((resolve) => webRequest.signal.addEventListener("abort", resolve));
        return new Response(body);
      },
      { onError },
    );

    const outgoing = http.get({ host: "127.0.0.1", port, path: "/" });
    outgoing.on("error", () => {});
    await handlerStarted.promise;
    outgoing.destroy();

    expect(((await cancelled) as DOMException).name).toBe("AbortError");
    expect(onError).not.toHaveBeenCalled();
  });

  test("a handler that rejects with the disconnect reason is not reported to onError", async () => {
    const handlerStarted = deferred();
    const handlerSettled = deferred();
    const onError = vi.fn();
    const port = await start(
      async (webRequest) => {
        try {
          handlerStarted.resolve();
          await new Promise((resolve) => webRequest.signal.addEventListener("abort", resolve));
          throw webRequest.signal.reason;
        } finally {
          handlerSettled.resolve();
        }
      },
      { onError },
    );

    const outgoing = http.get({ host: "127.0.0.1", port, path: "/" });
    outgoing.on("error", () => {});
    await handlerStarted.promise;
    outgoing.destroy();
    await handlerSettled.promise;
    // The adapter handles the rejection in microtasks, which all run before the next turn.
    await new Promise((resolve) => setImmediate(resolve));

    expect(onError).not.toHaveBeenCalled();
  });

  test("a client that disconnects mid-upload makes the handler's body read reject instead of hanging", async () => {
    const firstChunkSeen = deferred();
    const outcome = deferred<{ error: unknown; aborted: boolean }>();
    const port = await start(async (webRequest) => {
      const reader = webRequest.body!.getReader();
      try {
        await reader.read();
        firstChunkSeen.resolve();
        for (;;) {
          const { done } = await reader.read();
          if (done) break;
        }
        outcome.resolve({ error: undefined, aborted: webRequest.signal.aborted });
      } catch (error) {
        outcome.resolve({ error, aborted: webRequest.signal.aborted });
      }
      return new Response("unreachable");
    });

    const outgoing = http.request({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: "/",
      headers: { "content-length": String(1024 * 1024) },
    });
    outgoing.on("error", () => {});
    outgoing.write(Buffer.alloc(16 * 1024, 1));
    await firstChunkSeen.promise;
    outgoing.destroy();

    const { error, aborted } = await outcome.promise;
    expect(error).toBeInstanceOf(Error);
    expect(aborted).toBe(true);
  });
});

describe("serveEndpoint errors", () => {
  test.each([
    [
      "throws",
      (error: Error): Handler =>
        () => {
          throw error;
        },
    ],
    [
      "rejects",
      (error: Error): Handler =>
        async () =>
          Promise.reject(error),
    ],
  ])("a handler that %s gets a plain 500 and the error goes to onError", async (_, makeHandler) => {
    const failure = new Error("handler broke");
    const onError = vi.fn();
    const port = await start(makeHandler(failure), { onError });

    const response = await request(port, { path: "/" });

    expect(response.status).toBe(500);
    expect(response.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(response.body).toBe("Internal Server Error");
    expect(onError).toHaveBeenCalledExactlyOnceWith({ error: failure, phase: "handler" });
  });

  test("a handler result that is not a Response gets 500 and a TypeError that says what to return", async () => {
    const onError = vi.fn();
    const port = await start((() => ({ hello: "world" })) as unknown as Handler, { onError });

    const response = await request(port, { path: "/" });

    expect(response.status).toBe(500);
    expect(onError).toHaveBeenCalledOnce();
    const [{ error, phase }] = onError.mock.calls[0] as [{ error: unknown; phase: string }];
    expect(phase).toBe("handler");
    expect(error).toBeInstanceOf(TypeError);
    expect((error as TypeError).message).toMatch(/Return a Web `Response`/);
  });

  test("without onError, errors are logged with console.error once per kind, rate-limited", async () => {
    const consoleError = vi.spyOn(console, "error").mockImplementation(() => {});
    const port = await start(() => {
      throw new Error("loud failure");
    });

    for (let index = 0; index < 3; index += 1) expect((await request(port, { path: "/" })).status).toBe(500);

    expect(consoleError).toHaveBeenCalledOnce();
    expect(String(consoleError.mock.calls[0]![0])).toMatch(/handler error: Error: loud failure/);
    consoleError.mockRestore();
  });

  test("a body that errors mid-stream destroys the response so the client sees a truncated body", async () => {
    const clientGotFirstChunk = deferred();
    const failure = new Error("producer broke");
    const onError = vi.fn();
    const port = await start(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(new TextEncoder().encode("partial"));
            },
            async pull(controller) {
              await clientGotFirstChunk.promise;
              controller.error(failure);
            },
          }),
        ),
      { onError },
    );

    const outcome = await new Promise<{ text: string; complete: boolean }>((resolve, reject) => {
      const outgoing = http.get({ host: "127.0.0.1", port, path: "/" }, (incoming) => {
        let text = "";
        incoming.setEncoding("utf8");
        incoming.on("data", (chunk: string) => {
          text += chunk;
          clientGotFirstChunk.resolve();
        });
        incoming.on("error", () => {});
        incoming.on("close", () => resolve({ text, complete: incoming.complete }));
      });
      outgoing.on("error", reject);
    });

    expect(outcome).toEqual({ text: "partial", complete: false });
    expect(onError).toHaveBeenCalledExactlyOnceWith({ error: failure, phase: "body" });
  });

  test("a handler that is not a function is an InvalidOptionsError that says what to pass", () => {
    expect(() => serveEndpoint(42 as unknown as Handler)).toThrow(InvalidOptionsError);
    expect(() => serveEndpoint(42 as unknown as Handler)).toThrow(/expects a function/);
    expect(() => serveEndpoint(() => new Response(), { onError: "log" as never })).toThrow(/onError must be a function/);
    expect(() => serveEndpoint(() => new Response(), { onError: "log" as never })).toThrow(expect.objectContaining({ code: "INVALID_OPTIONS" }));
    expect(() => serveEndpoint(() => new Response(), null as never)).toThrow(InvalidOptionsError);
  });
});

describe("createEndpointServer", () => {
  test("returns an http.Server that serves the handler with the given options", async () => {
    const server = createEndpointServer((webRequest) => new Response(new URL(webRequest.url).protocol), {
      trustProxy: true,
    });
    expect(server).toBeInstanceOf(http.Server);
    const port = await listen(server);

    const response = await request(port, { path: "/", headers: { "x-forwarded-proto": "https" } });

    expect(response.body).toBe("https:");
  });

  test("keeps idle connections for 72 s and says so, so that clients close pooled connections first", async () => {
    const server = createEndpointServer(() => new Response("ok"));
    const port = await listen(server);

    const response = await request(port, { path: "/" });

    expect(server.keepAliveTimeout).toBe(72_000);
    expect(response.headers["keep-alive"]).toBe("timeout=72");
  });
});
