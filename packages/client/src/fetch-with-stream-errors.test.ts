import {
  ORIGIN,
  commitFrame,
  controlledStream,
  dataFrame,
  deferred,
  expectClientError,
  expectDoneOnceAndLast,
  metadataFrame,
  recorder,
  rejectionOf,
  resultFrame,
  sse,
  sseResponse,
  streamResponse,
  setupTestServer,
} from "@durastream/client-testing";
import { InvalidOptionsError, PROTOCOL_VERSION, ProtocolError } from "@durastream/protocol";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import { fetchWithStream } from "./fetch-with-stream.js";

const server = setupTestServer();

const URL_ = `${ORIGIN}/api/chat`;
const metadata = metadataFrame("01JERRORS", null);
const result = resultFrame("1-9", "done", { headers: [] });

function serve(text: string): void {
  server.use(http.get(URL_, () => sseResponse(text)));
}

describe("fetchWithStream stream failures", () => {
  it("rejects with STREAM_ENDED when the stream closes without a result, after onStreamError", async () => {
    serve(sse(metadata, dataFrame("1-1", "partial")));

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(URL_, callbacks));

    expectClientError(error, "STREAM_ENDED");
    expect(error.message).toMatch(/resume URL|retry/);
    expect(events).toEqual([
      ["metadata", { runId: "01JERRORS", protocolVersion: PROTOCOL_VERSION, resumeUrl: null, offset: null }],
      ["data", { data: "partial", hashedStepId: null, offset: "1-1" }],
      ["streamError", error],
      ["done"],
    ]);
  });

  it("rejects with STREAM_ENDED when the last frame is cut off before its blank line", async () => {
    serve(sse(metadata) + sse(result).slice(0, -1));

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(URL_, callbacks));

    expectClientError(error, "STREAM_ENDED");
    expect(events.map(([name]) => name)).toEqual(["metadata", "streamError", "done"]);
  });

  it("rejects with STREAM_ENDED for an event stream without a body", async () => {
    server.use(http.get(URL_, () => new HttpResponse(null, { headers: { "content-type": "text/event-stream" } })));

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(URL_, callbacks));

    expectClientError(error, "STREAM_ENDED");
    expect(events.map(([name]) => name)).toEqual(["streamError", "done"]);
  });

  it("rejects with PROTOCOL on a malformed frame, cancels the body and delivers nothing after it", async () => {
    const body = controlledStream();
    server.use(http.get(URL_, () => streamResponse(body.stream)));
    body.send(`${sse(metadata, dataFrame("1-1", "fine"))}event: data\nid: 1-2\ndata: {not json\n\n${sse(dataFrame("1-3", "after"))}`);

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(URL_, callbacks));

    expectClientError(error, "PROTOCOL");
    expect(ProtocolError.isInstance(error.cause) && error.cause.code).toBe("MALFORMED_FRAME");
    await body.cancelled;
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "streamError", "done"]);
  });

  it.each([
    ["UNSUPPORTED_VERSION", 'event: metadata\ndata: {"runId":"01J","version":99,"resumeUrl":null}\n\n'],
    ["INVALID_OFFSET", `${sse(metadata)}event: data\nid: not-an-offset\ndata: {"step":null,"data":1}\n\n`],
    ["INVALID_FRAME", `${sse(metadata)}event: rollback\nid: 1-1\ndata: {"step":null,"attempt":0,"willRetry":true}\n\n`],
  ])("rejects with PROTOCOL caused by %s", async (code, text) => {
    serve(text + sse(result));

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(URL_, callbacks));

    expectClientError(error, "PROTOCOL");
    expect(ProtocolError.isInstance(error.cause) && error.cause.code).toBe(code);
    expect(events.filter(([name]) => name !== "metadata")).toEqual([["streamError", error], ["done"]]);
  });

  it("rejects with PROTOCOL when a log frame comes before the connection's metadata", async () => {
    serve(sse(dataFrame("1-1", "too early"), metadata, result));

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(URL_, callbacks));

    expectClientError(error, "PROTOCOL");
    expect(ProtocolError.isInstance(error.cause) && error.cause.code).toBe("INVALID_FRAME");
    expect(events.map(([name]) => name)).toEqual(["streamError", "done"]);
  });

  it("rejects with PROTOCOL when the result describes a response that cannot be rebuilt", async () => {
    serve(sse(metadata, { ...result, response: { ...result.response, body: "%%% not base64 %%%", bodyEncoding: "base64" } }));

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(URL_, callbacks));

    expectClientError(error, "PROTOCOL");
    expect(events.map(([name]) => name)).toEqual(["metadata", "streamError", "done"]);
  });

  it("rejects with NETWORK when the request fails", async () => {
    server.use(http.get(URL_, () => HttpResponse.error()));

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(URL_, callbacks));

    expectClientError(error, "NETWORK");
    expect(error.cause).toBeInstanceOf(TypeError);
    expect(error.url).toBe(URL_);
    expect(events).toEqual([["streamError", error], ["done"]]);
  });

  it("rejects with NETWORK when reading the body fails mid-stream", async () => {
    const body = controlledStream();
    const firstChunk = deferred();
    server.use(http.get(URL_, () => streamResponse(body.stream)));
    body.send(sse(metadata, dataFrame("1-1", "before the drop")));

    const { events, callbacks } = recorder();
    const pending = rejectionOf(
      fetchWithStream(URL_, {
        ...callbacks,
        onData: (chunk) => {
          callbacks.onData?.(chunk);
          firstChunk.resolve();
        },
      }),
    );
    await firstChunk.promise;
    const reset = new Error("connection reset");
    body.fail(reset);
    const error = await pending;

    expectClientError(error, "NETWORK");
    expect(error.cause).toBe(reset);
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "streamError", "done"]);
  });
});

describe("fetchWithStream abort", () => {
  it("rejects with an AbortError, cancels the body, and does not call onStreamError", async () => {
    const body = controlledStream();
    const firstChunk = deferred();
    server.use(http.get(URL_, () => streamResponse(body.stream)));
    body.send(sse(metadata, dataFrame("1-1", "first")));
    const controller = new AbortController();

    const { events, callbacks } = recorder();
    const pending = rejectionOf(
      fetchWithStream(URL_, {
        ...callbacks,
        fetchOpts: { signal: controller.signal },
        onData: (chunk) => {
          callbacks.onData?.(chunk);
          firstChunk.resolve();
        },
      }),
    );
    await firstChunk.promise;
    controller.abort();
    const error = await pending;

    expect(error).toBeInstanceOf(DOMException);
    expect((error as DOMException).name).toBe("AbortError");
    expect(error).toBe(controller.signal.reason);
    await body.cancelled;
    expect(body.wasCancelled()).toBe(true);
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "done"]);
  });

  it("stops delivering at once when a callback aborts, even within one received chunk", async () => {
    const text = sse(metadata, dataFrame("1-1", "one"), dataFrame("1-2", "two"), result);
    server.use(http.get(URL_, () => streamResponse(new Blob([text]).stream())));
    const controller = new AbortController();

    const { events, callbacks } = recorder();
    const error = await rejectionOf(
      fetchWithStream(URL_, {
        ...callbacks,
        fetchOpts: { signal: controller.signal },
        onData: (chunk) => {
          callbacks.onData?.(chunk);
          controller.abort();
        },
      }),
    );

    expect((error as DOMException).name).toBe("AbortError");
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "done"]);
  });

  it("rejects with the signal's own reason", async () => {
    const body = controlledStream();
    server.use(http.get(URL_, () => streamResponse(body.stream)));
    body.send(sse(metadata));
    const controller = new AbortController();
    const reason = new Error("user left the page");

    const { events, callbacks } = recorder();
    const pending = rejectionOf(
      fetchWithStream(URL_, {
        ...callbacks,
        fetchOpts: { signal: controller.signal },
        onMetadata: () => controller.abort(reason),
      }),
    );

    expect(await pending).toBe(reason);
    await body.cancelled;
    expect(events).toEqual([["done"]]);
  });

  it("does not send the request when the signal is already aborted", async () => {
    let requests = 0;
    server.use(
      http.get(URL_, () => {
        requests += 1;
        return sseResponse(sse(metadata, result));
      }),
    );

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(URL_, { ...callbacks, fetchOpts: { signal: AbortSignal.abort() } }));

    expect((error as DOMException).name).toBe("AbortError");
    expect(requests).toBe(0);
    expect(events).toEqual([["done"]]);
  });
});

describe("fetchWithStream callbacks that throw", () => {
  it("stops, cancels the body and rejects with the callback's own error", async () => {
    const body = controlledStream();
    server.use(http.get(URL_, () => streamResponse(body.stream)));
    // Everything in one go: the frames after the throwing one are already received, yet not delivered.
    body.send(sse(metadata, dataFrame("1-1", "boom"), dataFrame("1-2", "never"), commitFrame("1-3")));
    const thrown = new RangeError("render failed");

    const { events, callbacks } = recorder();
    const error = await rejectionOf(
      fetchWithStream(URL_, {
        ...callbacks,
        onData: (chunk) => {
          callbacks.onData?.(chunk);
          throw thrown;
        },
      }),
    );

    expect(error).toBe(thrown);
    await body.cancelled;
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "done"]);
  });

  it("rejects with the error onStreamError throws, and still calls onDone", async () => {
    serve(sse(metadata));
    const thrown = new Error("logging failed");

    const { events, callbacks } = recorder();
    const error = await rejectionOf(
      fetchWithStream(URL_, {
        ...callbacks,
        onStreamError: (streamError) => {
          callbacks.onStreamError?.(streamError);
          throw thrown;
        },
      }),
    );

    expect(error).toBe(thrown);
    expect(events.map(([name]) => name)).toEqual(["metadata", "streamError", "done"]);
  });

  it("rejects with the error onDone throws after a success, but keeps an earlier error", async () => {
    serve(sse(metadata, result));
    const thrown = new Error("cleanup failed");
    const afterSuccess = await rejectionOf(
      fetchWithStream(URL_, {
        onDone: () => {
          throw thrown;
        },
      }),
    );
    expect(afterSuccess).toBe(thrown);

    server.use(http.get(URL_, () => HttpResponse.error()));
    const afterFailure = await rejectionOf(
      fetchWithStream(URL_, {
        onDone: () => {
          throw thrown;
        },
      }),
    );
    expectClientError(afterFailure, "NETWORK");
  });

  it("rejects with the error onRedirect throws, without following the redirect", async () => {
    let followed = false;
    server.use(
      http.get(URL_, () => sseResponse(sse(metadata, { type: "redirect", url: "/api/wait", reason: "sleep" }))),
      http.get(`${ORIGIN}/api/wait`, () => {
        followed = true;
        return sseResponse(sse(metadata, result));
      }),
    );
    const thrown = new Error("no redirects please");

    const { events, callbacks } = recorder();
    const error = await rejectionOf(
      fetchWithStream(URL_, {
        ...callbacks,
        onRedirect: () => {
          throw thrown;
        },
      }),
    );

    expect(error).toBe(thrown);
    expect(followed).toBe(false);
    expectDoneOnceAndLast(events);
    expect(events.some(([name]) => name === "streamError")).toBe(false);
  });

  it("rejects with an InvalidOptionsError for an invalid maxRedirects, and still calls onDone", async () => {
    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(URL_, { ...callbacks, maxRedirects: -1 }));

    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as InvalidOptionsError).code).toBe("INVALID_OPTIONS");
    expect(events).toEqual([["done"]]);
  });
});
