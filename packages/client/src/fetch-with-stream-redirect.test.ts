import {
  ORIGIN,
  commitFrame,
  dataFrame,
  expectDoneOnceAndLast,
  metadataFrame,
  recorder,
  rejectionOf,
  resultFrame,
  see,
  sse,
  sseResponse,
  setupTestServer,
  type SeenRequest,
} from "@durastream/client-testing";
import { PROTOCOL_VERSION, hashStepId, type ResultFrame } from "@durastream/protocol";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import { DurableClientError } from "./errors.js";
import type { FetchFunction } from "./fetch-with-stream-options.js";
import { fetchWithStream } from "./fetch-with-stream.js";

const server = setupTestServer();

const STEP = await hashStepId("generate");
const RUN_ID = "01JREDIRECT0000000000000000";
const metadata = metadataFrame(RUN_ID, null);
const result = (offset: string, body: string): ResultFrame => resultFrame(offset, body, { headers: [] });

describe("fetchWithStream redirects", () => {
  it("follows a redirect with Last-Event-ID and skips the frames it already delivered", async () => {
    const seen: SeenRequest[] = [];
    server.use(
      http.post(`${ORIGIN}/api/chat`, ({ request }) => {
        seen.push(see(request));
        return sseResponse(
          sse(
            metadata,
            dataFrame("1-1", "Hel", STEP),
            dataFrame("1-2", "lo", STEP),
            { type: "redirect", url: `/api/durable/${RUN_ID}?token=abc`, reason: "retry" },
            // Nothing after a redirect frame belongs to this connection.
            dataFrame("1-3", "never delivered", STEP),
          ),
        );
      }),
      http.get(`${ORIGIN}/api/durable/${RUN_ID}`, ({ request }) => {
        seen.push(see(request));
        return sseResponse(
          sse(
            metadata,
            // A wait endpoint that replays a little too much: the client must drop these.
            dataFrame("1-1", "Hel", STEP),
            dataFrame("1-2", "lo", STEP),
            dataFrame("1-3", " world", STEP),
            commitFrame("1-4", STEP),
            // Another process took the run over: a new epoch sorts after everything before it.
            dataFrame("2-1", "!"),
            commitFrame("2-2"),
            result("2-3", '"Hello world!"'),
          ),
        );
      }),
    );
    const calls: { url: string; init: RequestInit | undefined }[] = [];
    const recordingFetch: FetchFunction = (input, init) => {
      calls.push({ url: input, init });
      return fetch(input, init);
    };
    const controller = new AbortController();

    const { events, callbacks } = recorder();
    const response = await fetchWithStream(`${ORIGIN}/api/chat`, {
      ...callbacks,
      fetch: recordingFetch,
      fetchOpts: {
        method: "POST",
        body: "{}",
        headers: { "x-custom": "first request only" },
        credentials: "include",
        signal: controller.signal,
      },
    });

    expect(await response.json()).toBe("Hello world!");
    expect(events).toEqual([
      ["metadata", { runId: RUN_ID, protocolVersion: PROTOCOL_VERSION, resumeUrl: null, offset: null }],
      ["data", { data: "Hel", hashedStepId: STEP, offset: "1-1" }],
      ["data", { data: "lo", hashedStepId: STEP, offset: "1-2" }],
      ["redirect", { url: `${ORIGIN}/api/durable/${RUN_ID}?token=abc`, reason: "retry", offset: "1-2" }],
      ["data", { data: " world", hashedStepId: STEP, offset: "1-3" }],
      ["commit", { hashedStepId: STEP, offset: "1-4" }],
      ["data", { data: "!", hashedStepId: null, offset: "2-1" }],
      ["commit", { hashedStepId: null, offset: "2-2" }],
      ["done"],
    ]);
    expect(seen).toEqual([
      { method: "POST", url: `${ORIGIN}/api/chat`, accept: "text/event-stream", lastEventId: null, custom: "first request only" },
      {
        method: "GET",
        url: `${ORIGIN}/api/durable/${RUN_ID}?token=abc`,
        accept: "text/event-stream",
        lastEventId: "1-2",
        custom: null,
      },
    ]);
    // Both connections went through the custom fetch, with the caller's signal and credentials.
    expect(calls.map(({ url }) => url)).toEqual([`${ORIGIN}/api/chat`, `${ORIGIN}/api/durable/${RUN_ID}?token=abc`]);
    expect(calls.map(({ init }) => init?.signal)).toEqual([controller.signal, controller.signal]);
    expect(calls[1]?.init?.credentials).toBe("include");
  });

  it("leaves Last-Event-ID out when no log frame arrived before the redirect, and follows chains", async () => {
    const seen: SeenRequest[] = [];
    server.use(
      http.get(`${ORIGIN}/api/sleepy`, ({ request }) => {
        seen.push(see(request));
        return sseResponse(sse(metadata, { type: "redirect", url: "wait/1", reason: "sleep" }));
      }),
      http.get(`${ORIGIN}/api/wait/1`, ({ request }) => {
        seen.push(see(request));
        return sseResponse(sse(metadata, dataFrame("1-1", "woke"), { type: "redirect", url: `${ORIGIN}/api/wait/2`, reason: "wait-for-event" }));
      }),
      http.get(`${ORIGIN}/api/wait/2`, ({ request }) => {
        seen.push(see(request));
        return sseResponse(sse(metadata, dataFrame("1-1", "woke"), result("1-2", "2")));
      }),
    );

    const { events, callbacks } = recorder();
    const response = await fetchWithStream(`${ORIGIN}/api/sleepy`, callbacks);

    expect(await response.json()).toBe(2);
    expect(seen.map(({ url, lastEventId }) => [url, lastEventId])).toEqual([
      [`${ORIGIN}/api/sleepy`, null],
      [`${ORIGIN}/api/wait/1`, null],
      [`${ORIGIN}/api/wait/2`, "1-1"],
    ]);
    expect(events.map(([name]) => name)).toEqual(["metadata", "redirect", "data", "redirect", "done"]);
  });

  it("reports the metadata again when a connection belongs to a different run", async () => {
    server.use(
      http.get(`${ORIGIN}/api/first`, () =>
        sseResponse(sse(metadata, dataFrame("1-5", "old run"), { type: "redirect", url: "/api/second", reason: "shutdown" })),
      ),
      http.get(`${ORIGIN}/api/second`, () =>
        sseResponse(sse({ ...metadata, runId: "01JOTHERRUN000000000000000" }, dataFrame("1-1", "new run"), result("1-2", "0"))),
      ),
    );

    const { events, callbacks } = recorder();
    await fetchWithStream(`${ORIGIN}/api/first`, callbacks);

    expect(events.filter(([name]) => name === "metadata").map(([, value]) => (value as { runId: string }).runId)).toEqual([
      RUN_ID,
      "01JOTHERRUN000000000000000",
    ]);
    // Offsets of another run say nothing about this one: "1-1" is not a duplicate of "1-5".
    expect(events.filter(([name]) => name === "data").map(([, value]) => (value as { data: string }).data)).toEqual(["old run", "new run"]);
  });

  it("does not cap redirects between which new frames arrived (a long run redirected on a time limit)", async () => {
    let connections = 0;
    server.use(
      http.get(`${ORIGIN}/api/long`, () => {
        connections += 1;
        if (connections === 6) return sseResponse(sse(metadata, result(`1-${connections}`, "0")));
        return sseResponse(sse(metadata, dataFrame(`1-${connections}`, connections), { type: "redirect", url: "/api/long", reason: "max-duration" }));
      }),
    );
    const { events, callbacks } = recorder();
    await fetchWithStream(`${ORIGIN}/api/long`, { ...callbacks, maxRedirects: 2 });
    expect(connections).toBe(6);
    expect(events.filter(([name]) => name === "data").map(([, value]) => (value as { data: number }).data)).toEqual([1, 2, 3, 4, 5]);
  });

  it("fails with TOO_MANY_REDIRECTS after maxRedirects redirects", async () => {
    let connections = 0;
    server.use(
      http.get(`${ORIGIN}/api/loop`, () => {
        connections += 1;
        return sseResponse(sse(metadata, { type: "redirect", url: "/api/loop", reason: "max-duration" }));
      }),
    );

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(`${ORIGIN}/api/loop`, { ...callbacks, maxRedirects: 2 }));

    expect(DurableClientError.isInstance(error) && error.code).toBe("TOO_MANY_REDIRECTS");
    expect(connections).toBe(3);
    expect(events.map(([name]) => name)).toEqual(["metadata", "redirect", "redirect", "streamError", "done"]);
    expect(events.at(-2)?.[1]).toBe(error);
  });

  it("fails with HTTP when the redirect target does not answer with a stream", async () => {
    server.use(
      http.get(`${ORIGIN}/api/chat`, () => sseResponse(sse(metadata, { type: "redirect", url: "/api/gone", reason: "retry" }))),
      http.get(`${ORIGIN}/api/gone`, () => HttpResponse.json({ error: "unknown run" }, { status: 404 })),
      http.get(`${ORIGIN}/api/html`, () => sseResponse(sse(metadata, { type: "redirect", url: "/api/page", reason: "retry" }))),
      http.get(`${ORIGIN}/api/page`, () => new HttpResponse("<html></html>", { headers: { "content-type": "text/html" } })),
    );

    const gone = recorder();
    const notFound = await rejectionOf(fetchWithStream(`${ORIGIN}/api/chat`, gone.callbacks));
    expect(DurableClientError.isInstance(notFound) && [notFound.code, notFound.status, notFound.url]).toEqual(["HTTP", 404, `${ORIGIN}/api/gone`]);
    expect(gone.events.map(([name]) => name)).toEqual(["metadata", "redirect", "streamError", "done"]);

    const html = recorder();
    const notAStream = await rejectionOf(fetchWithStream(`${ORIGIN}/api/html`, html.callbacks));
    expect(DurableClientError.isInstance(notAStream) && [notAStream.code, notAStream.status]).toEqual(["HTTP", 200]);
    expectDoneOnceAndLast(html.events);
  });

  it("fails with NETWORK when the redirect target cannot be reached", async () => {
    server.use(
      http.get(`${ORIGIN}/api/chat`, () => sseResponse(sse(metadata, { type: "redirect", url: "/api/down", reason: "retry" }))),
      http.get(`${ORIGIN}/api/down`, () => HttpResponse.error()),
    );

    const { events, callbacks } = recorder();
    const error = await rejectionOf(fetchWithStream(`${ORIGIN}/api/chat`, callbacks));

    expect(DurableClientError.isInstance(error) && error.code).toBe("NETWORK");
    expect((error as Error).cause).toBeInstanceOf(TypeError);
    expect(events.map(([name]) => name)).toEqual(["metadata", "redirect", "streamError", "done"]);
  });
});
