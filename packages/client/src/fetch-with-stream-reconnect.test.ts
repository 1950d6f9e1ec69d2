import {
  NO_WAIT,
  ORIGIN,
  commitFrame,
  controlledStream,
  dataFrame,
  deferred,
  durableRun,
  expectClientError,
  expectDoneOnceAndLast,
  inSequence,
  recorder,
  rejectionOf,
  resultFrame,
  servePosts,
  sse,
  sseResponse,
  streamResponse,
  setupTestServer,
} from "@durastream/client-testing";
import { InvalidOptionsError, PROTOCOL_VERSION, ProtocolError } from "@durastream/protocol";
import { http, HttpResponse } from "msw";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { FetchFunction } from "./fetch-with-stream-options.js";
import { fetchWithStream } from "./fetch-with-stream.js";

const server = setupTestServer();
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const RUN_ID = "01JRECONNECT00000000000000";
const ENDPOINT = `${ORIGIN}/api/chat`;
const { waitPath: WAIT_PATH, resumeUrl: RESUME_URL, metadata } = durableRun(RUN_ID);

/** The endpoint: answers every POST with `respond()` and counts them. */
const serveEndpoint = (respond: () => Response) => servePosts(server, ENDPOINT, respond);

/** The data and commit frames the recorder saw, in order, as `name:offset`. */
function logFrames(events: readonly (readonly [string, unknown?])[]): string[] {
  return events
    .filter(([name]) => name === "data" || name === "commit" || name === "rollback")
    .map(([name, argument]) => `${name}:${(argument as { offset: string }).offset}`);
}

describe("fetchWithStream reconnects after a dropped connection", () => {
  it("resumes at the resume URL after the last offset, skips replayed frames, and never re-sends the POST", async () => {
    const body = controlledStream();
    const committed = deferred();
    const endpoint = serveEndpoint(() => streamResponse(body.stream));
    const wait = inSequence(() =>
      sseResponse(
        sse(
          metadata,
          // The wait endpoint replays a frame the client already has (overlap): it must not be delivered again.
          commitFrame("1-3"),
          dataFrame("1-4", " world"),
          commitFrame("1-5"),
          resultFrame("1-6", '"Hello world"'),
        ),
      ),
    );
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));
    body.send(sse(metadata, dataFrame("1-1", "Hel"), dataFrame("1-2", "lo"), commitFrame("1-3")));

    const { events, callbacks } = recorder();
    const pending = fetchWithStream(ENDPOINT, {
      ...callbacks,
      reconnect: NO_WAIT,
      fetchOpts: { method: "POST", body: '{"prompt":"hi"}', headers: { "x-custom": "first request only" } },
      onCommit: (frame) => {
        callbacks.onCommit?.(frame);
        committed.resolve();
      },
    });
    await committed.promise;
    body.fail(new Error("connection reset"));
    const response = await pending;

    expect(await response.json()).toBe("Hello world");
    expect(events).toEqual([
      ["metadata", { runId: RUN_ID, protocolVersion: PROTOCOL_VERSION, resumeUrl: RESUME_URL, offset: null }],
      ["data", { data: "Hel", hashedStepId: null, offset: "1-1" }],
      ["data", { data: "lo", hashedStepId: null, offset: "1-2" }],
      ["commit", { hashedStepId: null, offset: "1-3" }],
      ["reconnect", { attempt: 1, delay: 0, code: "NETWORK", status: undefined, url: RESUME_URL, offset: "1-3" }],
      ["data", { data: " world", hashedStepId: null, offset: "1-4" }],
      ["commit", { hashedStepId: null, offset: "1-5" }],
      ["done"],
    ]);
    expect(endpoint.posts).toHaveLength(1);
    expect(wait.seen).toEqual([{ method: "GET", url: RESUME_URL, accept: "text/event-stream", lastEventId: "1-3", custom: null }]);
  });

  it("reconnects when the stream ends without a result", async () => {
    const endpoint = serveEndpoint(() => sseResponse(sse(metadata, dataFrame("1-1", "a"))));
    const wait = inSequence(() => sseResponse(sse(metadata, dataFrame("1-2", "b"), commitFrame("1-3"), resultFrame("1-4", "2"))));
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));

    const { events, callbacks } = recorder();
    const response = await fetchWithStream(ENDPOINT, { ...callbacks, reconnect: NO_WAIT, fetchOpts: { method: "POST" } });

    expect(await response.json()).toBe(2);
    expect(events.filter(([name]) => name === "reconnect")).toEqual([
      ["reconnect", { attempt: 1, delay: 0, code: "STREAM_ENDED", status: undefined, url: RESUME_URL, offset: "1-1" }],
    ]);
    expect(logFrames(events)).toEqual(["data:1-1", "data:1-2", "commit:1-3"]);
    expect(wait.seen.map(({ lastEventId }) => lastEventId)).toEqual(["1-1"]);
    expect(endpoint.posts).toHaveLength(1);
    expectDoneOnceAndLast(events);
  });

  it("follows the resume URL of the latest metadata, and counts attempts from 1 again after new frames", async () => {
    const endpoint = serveEndpoint(() => sseResponse(sse(metadata, dataFrame("1-1", "a"))));
    const newerResumeUrl = `${WAIT_PATH}?token=newer`;
    const wait = inSequence(
      () => HttpResponse.error(),
      // Delivers a new frame (progress), names a newer resume URL, then ends early again.
      () => sseResponse(sse({ ...metadata, resumeUrl: newerResumeUrl }, dataFrame("1-1", "a"), dataFrame("1-2", "b"))),
      () => sseResponse(sse(metadata, dataFrame("1-3", "c"), resultFrame("1-4", "3"))),
    );
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));

    const { events, callbacks } = recorder();
    const response = await fetchWithStream(ENDPOINT, { ...callbacks, reconnect: NO_WAIT, fetchOpts: { method: "POST" } });

    expect(await response.json()).toBe(3);
    expect(events.filter(([name]) => name === "reconnect").map(([, argument]) => argument)).toEqual([
      { attempt: 1, delay: 0, code: "STREAM_ENDED", status: undefined, url: RESUME_URL, offset: "1-1" },
      { attempt: 2, delay: 0, code: "NETWORK", status: undefined, url: RESUME_URL, offset: "1-1" },
      { attempt: 1, delay: 0, code: "STREAM_ENDED", status: undefined, url: `${ORIGIN}${newerResumeUrl}`, offset: "1-2" },
    ]);
    expect(wait.seen.map(({ url, lastEventId }) => [url, lastEventId])).toEqual([
      [RESUME_URL, "1-1"],
      [RESUME_URL, "1-1"],
      [`${ORIGIN}${newerResumeUrl}`, "1-2"],
    ]);
    expect(logFrames(events)).toEqual(["data:1-1", "data:1-2", "data:1-3"]);
    expect(events.filter(([name]) => name === "metadata")).toHaveLength(1);
    expect(endpoint.posts).toHaveLength(1);
  });

  it("does not count a connection that only replays frames the client has as progress", async () => {
    serveEndpoint(() => sseResponse(sse(metadata, dataFrame("1-1", "a"), dataFrame("1-2", "b"))));
    const replayOnly = (): Response => sseResponse(sse(metadata, dataFrame("1-1", "a"), dataFrame("1-2", "b")));
    const wait = inSequence(replayOnly, replayOnly);
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(ENDPOINT, { ...callbacks, reconnect: { retries: 2, initialDelay: 0 }, fetchOpts: { method: "POST" } }));

    expectClientError(error, "STREAM_ENDED");
    expect(events.filter(([name]) => name === "reconnect").map(([, argument]) => (argument as { attempt: number }).attempt)).toEqual([1, 2]);
    expect(wait.seen).toHaveLength(2);
    expect(logFrames(events)).toEqual(["data:1-1", "data:1-2"]);
  });

  it("waits the exponential schedule with jitter between attempts while fetch keeps rejecting", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const fetchTimes: number[] = [];
    let reconnects = 0;
    // A custom fetch, so no mock server runs under fake timers: the POST streams and drops, the next
    // four requests fail to connect, the fifth serves the rest of the log.
    const fakeFetch: FetchFunction = async (url, init) => {
      fetchTimes.push(Date.now());
      if (init?.method === "POST") {
        return new Response(sse(metadata, dataFrame("1-1", "a")), { headers: { "content-type": "text/event-stream" } });
      }
      expect(url).toBe(RESUME_URL);
      reconnects += 1;
      if (reconnects <= 4) throw new TypeError("fetch failed");
      return new Response(sse(metadata, dataFrame("1-2", "b"), resultFrame("1-3", '"ok"')), {
        headers: { "content-type": "text/event-stream" },
      });
    };

    const attempts: { attempt: number; delay: number; at: number }[] = [];
    const { events, callbacks } = recorder();
    let settled = false;
    const pending = fetchWithStream(ENDPOINT, {
      ...callbacks,
      fetch: fakeFetch,
      fetchOpts: { method: "POST" },
      reconnect: { initialDelay: 100, maxDelay: 300 },
      onReconnect: (attempt) => {
        callbacks.onReconnect?.(attempt);
        attempts.push({ attempt: attempt.attempt, delay: attempt.delay, at: Date.now() });
      },
    }).finally(() => {
      settled = true;
    });
    for (let turn = 0; turn < 20 && !settled; turn += 1) await vi.runOnlyPendingTimersAsync();
    const response = await pending;

    expect(await response.json()).toBe("ok");
    // Waits 100, 200, 400→300, 800→300 (maxDelay); Math.random() = 0.5 is the middle of the jitter range.
    expect(attempts.map(({ attempt, delay }) => [attempt, delay])).toEqual([
      [1, 100],
      [2, 200],
      [3, 300],
      [4, 300],
      [5, 300],
    ]);
    // Each reconnect request went out exactly its delay after onReconnect announced it.
    expect(fetchTimes.slice(1).map((time, index) => time - (attempts[index]?.at ?? Number.NaN))).toEqual([100, 200, 300, 300, 300]);
    expect(reconnects).toBe(5);
    expect(logFrames(events)).toEqual(["data:1-1", "data:1-2"]);
  });

  it("keeps every wait of the default schedule within its ±50 % jitter range, capped at 10 s before jitter, for 8 attempts", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    let requests = 0;
    const fakeFetch: FetchFunction = async () => {
      requests += 1;
      if (requests > 1) throw new TypeError("fetch failed");
      return new Response(sse(metadata, dataFrame("1-1", "a")), { headers: { "content-type": "text/event-stream" } });
    };
    const attempts: { attempt: number; delay: number }[] = [];
    let settled = false;
    const pending = rejectionOf(
      fetchWithStream(ENDPOINT, {
        fetch: fakeFetch,
        fetchOpts: { method: "POST" },
        onReconnect: ({ attempt, delay }) => attempts.push({ attempt, delay }),
      }),
    ).finally(() => {
      settled = true;
    });
    for (let turn = 0; turn < 20 && !settled; turn += 1) await vi.runOnlyPendingTimersAsync();
    const error = await pending;

    expectClientError(error, "NETWORK");
    expect(requests).toBe(9); // the POST, then 8 reconnects
    expect(attempts.map(({ attempt }) => attempt)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const { attempt, delay } of attempts) {
      const wait = Math.min(10_000, 250 * 2 ** (attempt - 1));
      expect(Number.isInteger(delay)).toBe(true);
      expect(delay).toBeGreaterThanOrEqual(Math.round(wait / 2));
      expect(delay).toBeLessThanOrEqual(Math.round(wait * 1.5));
    }
  });

  it("retries a wait endpoint answering 503 or 429", async () => {
    serveEndpoint(() => sseResponse(sse(metadata, dataFrame("1-1", "a"))));
    const wait = inSequence(
      () => new HttpResponse("busy", { status: 503, headers: { "content-type": "text/plain" } }),
      () => new HttpResponse("slow down", { status: 429, headers: { "retry-after": "1" } }),
      () => sseResponse(sse(metadata, resultFrame("1-2", "1"))),
    );
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));

    const { events, callbacks } = recorder();
    const response = await fetchWithStream(ENDPOINT, { ...callbacks, reconnect: NO_WAIT, fetchOpts: { method: "POST" } });

    expect(await response.json()).toBe(1);
    expect(
      events
        .filter(([name]) => name === "reconnect")
        .map(([, argument]) => {
          const { attempt, code, status } = argument as { attempt: number; code: string; status?: number };
          return [attempt, code, status];
        }),
    ).toEqual([
      [1, "STREAM_ENDED", undefined],
      [2, "HTTP", 503],
      [3, "HTTP", 429],
    ]);
    expect(wait.seen).toHaveLength(3);
    expect(events.some(([name]) => name === "streamError")).toBe(false);
  });

  it("fails at once with HTTP 404 when the wait endpoint does not know the run (or the token)", async () => {
    const endpoint = serveEndpoint(() => sseResponse(sse(metadata, dataFrame("1-1", "a"))));
    const wait = inSequence(() => HttpResponse.json({ error: "unknown run" }, { status: 404 }));
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(ENDPOINT, { ...callbacks, reconnect: NO_WAIT, fetchOpts: { method: "POST" } }));

    expectClientError(error, "HTTP");
    expect([error.status, error.url, error.resumeUrl, error.offset]).toEqual([404, RESUME_URL, RESUME_URL, "1-1"]);
    expect(error.message).toMatch(/unknown.*token/);
    expect(wait.seen).toHaveLength(1);
    expect(endpoint.posts).toHaveLength(1);
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "reconnect", "streamError", "done"]);
    expect(events.at(-2)?.[1]).toBe(error);
  });

  it("gives up with the last error when the retries are used up: onStreamError and onDone once", async () => {
    const endpoint = serveEndpoint(() => sseResponse(sse(metadata, dataFrame("1-1", "a"), dataFrame("1-2", "b"))));
    const wait = inSequence(
      () => HttpResponse.error(),
      () => HttpResponse.error(),
      () => HttpResponse.error(),
    );
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(ENDPOINT, { ...callbacks, reconnect: { retries: 3, initialDelay: 0 }, fetchOpts: { method: "POST" } }));

    expectClientError(error, "NETWORK");
    expect(error.cause).toBeInstanceOf(TypeError);
    expect([error.url, error.resumeUrl, error.offset]).toEqual([RESUME_URL, RESUME_URL, "1-2"]);
    expect(wait.seen).toHaveLength(3);
    expect(endpoint.posts).toHaveLength(1);
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "data", "reconnect", "reconnect", "reconnect", "streamError", "done"]);
    expect(events.filter(([name]) => name === "streamError")).toEqual([["streamError", error]]);
  });

  it("does not reconnect when the server offers no resume URL", async () => {
    const body = controlledStream();
    const delivered = deferred();
    const endpoint = serveEndpoint(() => streamResponse(body.stream));
    body.send(sse({ ...metadata, resumeUrl: null }, dataFrame("1-1", "a")));

    const { events, callbacks } = recorder();
    const pending = rejectionOf(
      fetchWithStream(ENDPOINT, {
        ...callbacks,
        reconnect: NO_WAIT,
        fetchOpts: { method: "POST" },
        onData: (chunk) => {
          callbacks.onData?.(chunk);
          delivered.resolve();
        },
      }),
    );
    await delivered.promise;
    body.fail(new Error("connection reset"));
    const error = await pending;

    expectClientError(error, "NETWORK");
    expect([error.resumeUrl, error.offset]).toEqual([undefined, "1-1"]);
    expect(endpoint.posts).toHaveLength(1);
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "streamError", "done"]);
  });

  it("does not reconnect with reconnect: false", async () => {
    serveEndpoint(() => sseResponse(sse(metadata, dataFrame("1-1", "a"))));

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(ENDPOINT, { ...callbacks, reconnect: false, fetchOpts: { method: "POST" } }));

    expectClientError(error, "STREAM_ENDED");
    expect(error.resumeUrl).toBe(RESUME_URL);
    expect(error.message).toContain("resumeStream");
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "streamError", "done"]);
  });

  it("does not retry the first request when it cannot be sent: no resume URL is known yet", async () => {
    const endpoint = serveEndpoint(() => HttpResponse.error());

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(ENDPOINT, { ...callbacks, reconnect: NO_WAIT, fetchOpts: { method: "POST" } }));

    expectClientError(error, "NETWORK");
    expect(endpoint.posts).toHaveLength(1);
    expect(events).toEqual([["streamError", error], ["done"]]);
  });

  it("fails with PROTOCOL, without retrying, when the resume URL answers with another run", async () => {
    serveEndpoint(() => sseResponse(sse(metadata, dataFrame("1-1", "a"))));
    const wait = inSequence(() => sseResponse(sse({ ...metadata, runId: "01JSOMEOTHERRUN00000000000" }, dataFrame("1-1", "other"), resultFrame("1-2", "0"))));
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(ENDPOINT, { ...callbacks, reconnect: NO_WAIT, fetchOpts: { method: "POST" } }));

    expectClientError(error, "PROTOCOL");
    expect(ProtocolError.isInstance(error.cause) && error.cause.code).toBe("INVALID_FRAME");
    expect(error.message).toContain("01JSOMEOTHERRUN00000000000");
    expect(wait.seen).toHaveLength(1);
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "reconnect", "streamError", "done"]);
  });

  it("does not retry a protocol error", async () => {
    serveEndpoint(() => sseResponse(`${sse(metadata)}event: data\nid: 1-1\ndata: {not json\n\n`));

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(ENDPOINT, { ...callbacks, reconnect: NO_WAIT, fetchOpts: { method: "POST" } }));

    expectClientError(error, "PROTOCOL");
    expect(events.map(([name]) => name)).toEqual(["metadata", "streamError", "done"]);
  });

  it("reconnects to the resume URL when a redirected connection drops, keeping the redirect count", async () => {
    const endpoint = serveEndpoint(() => sseResponse(sse(metadata, dataFrame("1-1", "a"), { type: "redirect", url: "/api/wait-here", reason: "sleep" })));
    const redirected = inSequence(() => sseResponse(sse(metadata, dataFrame("1-2", "b"))));
    const wait = inSequence(() => sseResponse(sse(metadata, dataFrame("1-2", "b"), dataFrame("1-3", "c"), resultFrame("1-4", "4"))));
    server.use(http.get(`${ORIGIN}/api/wait-here`, redirected.resolver), http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));

    const { events, callbacks } = recorder();
    const response = await fetchWithStream(ENDPOINT, {
      ...callbacks,
      maxRedirects: 1,
      reconnect: NO_WAIT,
      fetchOpts: { method: "POST" },
    });

    expect(await response.json()).toBe(4);
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "redirect", "data", "reconnect", "data", "done"]);
    expect(events[2]).toEqual(["redirect", { url: `${ORIGIN}/api/wait-here`, reason: "sleep", offset: "1-1" }]);
    expect(redirected.seen.map(({ lastEventId }) => lastEventId)).toEqual(["1-1"]);
    expect(wait.seen.map(({ url, lastEventId }) => [url, lastEventId])).toEqual([[RESUME_URL, "1-2"]]);
    expect(logFrames(events)).toEqual(["data:1-1", "data:1-2", "data:1-3"]);
    expect(endpoint.posts).toHaveLength(1);
  });
});

describe("fetchWithStream abort while reconnecting", () => {
  it("rejects with the signal's reason at once during a reconnect wait, and fetches nothing more", async () => {
    const endpoint = serveEndpoint(() => sseResponse(sse(metadata, dataFrame("1-1", "a"))));
    const wait = inSequence();
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));
    const controller = new AbortController();
    const waiting = deferred();

    const { events, callbacks } = recorder();
    const pending = rejectionOf(
      fetchWithStream(ENDPOINT, {
        ...callbacks,
        // A wait far longer than the test timeout: only the abort can end it.
        reconnect: { initialDelay: 3_600_000, maxDelay: 3_600_000, jitter: 0 },
        fetchOpts: { method: "POST", signal: controller.signal },
        onReconnect: (attempt) => {
          callbacks.onReconnect?.(attempt);
          waiting.resolve();
        },
      }),
    );
    await waiting.promise;
    controller.abort();
    const error = await pending;

    expect((error as DOMException).name).toBe("AbortError");
    expect(error).toBe(controller.signal.reason);
    expect(wait.seen).toHaveLength(0);
    expect(endpoint.posts).toHaveLength(1);
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "reconnect", "done"]);
  });

  it("clears the wait's timer on abort", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const controller = new AbortController();
    const waiting = deferred();
    const fakeFetch: FetchFunction = async () => new Response(sse(metadata, dataFrame("1-1", "a")), { headers: { "content-type": "text/event-stream" } });

    const pending = rejectionOf(
      fetchWithStream(ENDPOINT, {
        fetch: fakeFetch,
        reconnect: { initialDelay: 5_000 },
        fetchOpts: { method: "POST", signal: controller.signal },
        onReconnect: () => waiting.resolve(),
      }),
    );
    await waiting.promise;
    expect(vi.getTimerCount()).toBe(1);
    controller.abort();
    expect(((await pending) as DOMException).name).toBe("AbortError");
    expect(vi.getTimerCount()).toBe(0);
  });

  it("aborts a reconnected connection in progress and cancels its body", async () => {
    serveEndpoint(() => sseResponse(sse(metadata, dataFrame("1-1", "a"))));
    const body = controlledStream();
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, () => streamResponse(body.stream)));
    body.send(sse(metadata, dataFrame("1-2", "b")));
    const controller = new AbortController();

    const { events, callbacks } = recorder();
    const error = await rejectionOf(
      fetchWithStream(ENDPOINT, {
        ...callbacks,
        reconnect: NO_WAIT,
        fetchOpts: { method: "POST", signal: controller.signal },
        onData: (chunk) => {
          callbacks.onData?.(chunk);
          if (chunk.offset === "1-2") controller.abort();
        },
      }),
    );

    expect(error).toBe(controller.signal.reason);
    await body.cancelled;
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "reconnect", "data", "done"]);
  });

  it("rejects with the error onReconnect throws, without reconnecting", async () => {
    serveEndpoint(() => sseResponse(sse(metadata, dataFrame("1-1", "a"))));
    const wait = inSequence();
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));
    const thrown = new Error("no reconnects please");

    const { events, callbacks } = recorder();
    const error = await rejectionOf(
      fetchWithStream(ENDPOINT, {
        ...callbacks,
        reconnect: NO_WAIT,
        fetchOpts: { method: "POST" },
        onReconnect: () => {
          throw thrown;
        },
      }),
    );

    expect(error).toBe(thrown);
    expect(wait.seen).toHaveLength(0);
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "done"]);
  });

  it.each([
    ["retries", { retries: -1 }],
    ["retries", { retries: 1.5 }],
    ["initialDelay", { initialDelay: Number.NaN }],
    ["maxDelay", { maxDelay: -5 }],
    ["factor", { factor: 0.5 }],
    ["jitter", { jitter: 1.5 }],
  ] as const)("rejects with an InvalidOptionsError for an invalid reconnect.%s", async (name, reconnect) => {
    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(ENDPOINT, { ...callbacks, reconnect }));

    expect(InvalidOptionsError.isInstance(error)).toBe(true);
    expect((error as Error).message).toContain(`reconnect.${name}`);
    expect(events).toEqual([["done"]]);
  });
});
