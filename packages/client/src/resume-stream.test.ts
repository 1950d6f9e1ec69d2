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
  sse,
  sseResponse,
  streamResponse,
  setupTestServer,
} from "@durastream/client-testing";
import { InvalidOptionsError, PROTOCOL_VERSION, ProtocolError, type ResultFrame } from "@durastream/protocol";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import { resumeStream } from "./resume-stream.js";
import type { ResumeStreamOptions } from "./fetch-with-stream-options.js";

const server = setupTestServer();

const RUN_ID = "01JRESUME00000000000000000";
const { waitPath: WAIT_PATH, resumeUrl: RESUME_URL, metadata } = durableRun(RUN_ID);
/** The run's result: `201 Created` with an `x-run` header. */
const result = (offset: string, body: string): ResultFrame => resultFrame(offset, body, { status: 201, statusText: "Created", headers: [["x-run", "done"]] });
/** The whole log of the run these tests attach to. */
const LOG = [dataFrame("1-1", "Hel"), dataFrame("1-2", "lo"), commitFrame("1-3"), dataFrame("1-4", " world"), commitFrame("1-5"), result("1-6", "Hello world")];

describe("resumeStream", () => {
  it("attaches after offset: sends it as Last-Event-ID, skips earlier frames even when replayed, and resolves with the result", async () => {
    // A server that replays the whole log regardless: the client must still drop what the caller has.
    const wait = inSequence(() => sseResponse(sse(metadata, ...LOG)));
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));

    const { events, callbacks } = recorder();
    const response = await resumeStream(RESUME_URL, { ...callbacks, offset: "1-3" });

    expect(response.status).toBe(201);
    expect(response.headers.get("x-run")).toBe("done");
    expect(await response.text()).toBe("Hello world");
    expect(events).toEqual([
      ["metadata", { runId: RUN_ID, protocolVersion: PROTOCOL_VERSION, resumeUrl: RESUME_URL, offset: "1-3" }],
      ["data", { data: " world", hashedStepId: null, offset: "1-4" }],
      ["commit", { hashedStepId: null, offset: "1-5" }],
      ["done"],
    ]);
    expect(wait.seen).toEqual([{ method: "GET", url: RESUME_URL, accept: "text/event-stream", lastEventId: "1-3", custom: null }]);
  });

  it("reads the whole log without offset, with the caller's headers on the request", async () => {
    const wait = inSequence(() => sseResponse(sse(metadata, ...LOG)));
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));

    const { events, callbacks } = recorder();
    const response = await resumeStream(new URL(RESUME_URL), {
      ...callbacks,
      fetchOpts: { headers: { "x-custom": "tab 2", accept: "application/json" } },
    });

    expect(await response.text()).toBe("Hello world");
    expect(events.filter(([name]) => name === "data" || name === "commit")).toHaveLength(5);
    expect(wait.seen).toEqual([{ method: "GET", url: RESUME_URL, accept: "application/json, text/event-stream", lastEventId: null, custom: "tab 2" }]);
  });

  it("reconnects to the resume URL after a drop, with the latest offset", async () => {
    const body = controlledStream();
    const delivered = deferred();
    const wait = inSequence(
      () => streamResponse(body.stream),
      () => sseResponse(sse(metadata, dataFrame("1-4", " world"), commitFrame("1-5"), result("1-6", "Hello world"))),
    );
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));
    body.send(sse(metadata, dataFrame("1-2", "lo"), commitFrame("1-3"), dataFrame("1-4", " world")));

    const { events, callbacks } = recorder();
    const pending = resumeStream(RESUME_URL, {
      ...callbacks,
      offset: "1-1",
      reconnect: NO_WAIT,
      fetchOpts: { headers: { "x-custom": "first request only" } },
      onData: (chunk) => {
        callbacks.onData?.(chunk);
        if (chunk.offset === "1-4") delivered.resolve();
      },
    });
    await delivered.promise;
    body.fail(new Error("connection reset"));

    expect(await (await pending).text()).toBe("Hello world");
    expect(wait.seen.map(({ lastEventId, custom }) => [lastEventId, custom])).toEqual([
      ["1-1", "first request only"],
      ["1-4", null],
    ]);
    expect(events.filter(([name]) => name !== "metadata").map(([name, argument]) => [name, (argument as { offset?: string } | undefined)?.offset])).toEqual([
      ["data", "1-2"],
      ["commit", "1-3"],
      ["data", "1-4"],
      ["reconnect", "1-4"],
      ["commit", "1-5"],
      ["done", undefined],
    ]);
  });

  it("retries its very first connection, since reading a run starts nothing", async () => {
    const wait = inSequence(
      () => HttpResponse.error(),
      () => new HttpResponse("restarting", { status: 502 }),
      () => sseResponse(sse(metadata, result("1-6", "Hello world"))),
    );
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));

    const { events, callbacks } = recorder();
    const response = await resumeStream(RESUME_URL, { ...callbacks, offset: "1-5", reconnect: NO_WAIT });

    expect(await response.text()).toBe("Hello world");
    expect(
      events
        .filter(([name]) => name === "reconnect")
        .map(([, argument]) => {
          const { attempt, code, status, url, offset } = argument as Record<string, unknown>;
          return [attempt, code, status, url, offset];
        }),
    ).toEqual([
      [1, "NETWORK", undefined, RESUME_URL, "1-5"],
      [2, "HTTP", 502, RESUME_URL, "1-5"],
    ]);
    expect(wait.seen.map(({ lastEventId }) => lastEventId)).toEqual(["1-5", "1-5", "1-5"]);
  });

  it("fails with HTTP 404, without retrying, for an unknown run or a bad token", async () => {
    const wait = inSequence(() => new HttpResponse("not found", { status: 404 }));
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));

    const { events, callbacks } = recorder();
    const error = await rejectionOf(resumeStream(RESUME_URL, { ...callbacks, offset: "1-2", reconnect: NO_WAIT }));

    expectClientError(error, "HTTP");
    expect([error.status, error.url, error.offset]).toEqual([404, RESUME_URL, "1-2"]);
    expect(wait.seen).toHaveLength(1);
    expect(events).toEqual([["streamError", error], ["done"]]);
  });

  it("fails with HTTP when the resume URL answers without a stream", async () => {
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, () => HttpResponse.json({ status: "running" })));

    const { events, callbacks } = recorder();
    const error = await rejectionOf(resumeStream(RESUME_URL, { ...callbacks, reconnect: NO_WAIT }));

    expectClientError(error, "HTTP");
    expect(error.status).toBe(200);
    expectDoneOnceAndLast(events);
  });

  it("fails with PROTOCOL when a reconnect lands on another run than the first connection", async () => {
    const wait = inSequence(
      () => sseResponse(sse(metadata, dataFrame("1-4", " world"))),
      () => sseResponse(sse({ ...metadata, runId: "01JANOTHERRUN0000000000000" }, result("1-1", "other"))),
    );
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));

    const { events, callbacks } = recorder();
    const error = await rejectionOf(resumeStream(RESUME_URL, { ...callbacks, offset: "1-3", reconnect: NO_WAIT }));

    expectClientError(error, "PROTOCOL");
    expect(ProtocolError.isInstance(error.cause) && error.cause.code).toBe("INVALID_FRAME");
    expect(wait.seen).toHaveLength(2);
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "reconnect", "streamError", "done"]);
  });

  it("rejects with the signal's reason on abort, without onStreamError", async () => {
    const body = controlledStream();
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, () => streamResponse(body.stream)));
    body.send(sse(metadata, dataFrame("1-4", " world")));
    const controller = new AbortController();

    const { events, callbacks } = recorder();
    const error = await rejectionOf(
      resumeStream(RESUME_URL, {
        ...callbacks,
        offset: "1-3",
        fetchOpts: { signal: controller.signal },
        onData: (chunk) => {
          callbacks.onData?.(chunk);
          controller.abort();
        },
      }),
    );

    expect((error as DOMException).name).toBe("AbortError");
    await body.cancelled;
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "done"]);
  });
});

describe("resumeStream arguments", () => {
  it.each([
    ["a POST", { method: "POST" }],
    ["a body", { body: "{}" }],
    ["a DELETE", { method: "delete" }],
  ])("rejects %s with an InvalidOptionsError that points to fetchWithStream, sending nothing", async (_what, fetchOpts) => {
    const wait = inSequence();
    server.use(http.all(`${ORIGIN}${WAIT_PATH}`, wait.resolver));

    const { events, callbacks } = recorder();
    // fetchOpts' type already leaves method and body out; a caller without types gets the InvalidOptionsError.
    const error = await rejectionOf(resumeStream(RESUME_URL, { ...callbacks, fetchOpts: fetchOpts as RequestInit }));

    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as Error).message).toContain("fetchWithStream");
    expect(wait.seen).toHaveLength(0);
    expect(events).toEqual([["done"]]);
  });

  it("accepts an explicit GET", async () => {
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, () => sseResponse(sse(metadata, ...LOG))));

    const response = await resumeStream(RESUME_URL, { fetchOpts: { method: "get" } as RequestInit });

    expect(await response.text()).toBe("Hello world");
  });

  it.each([["not-an-offset"], [""], ["1-2-3"]])("rejects offset %j with an InvalidOptionsError", async (offset) => {
    const { events, callbacks } = recorder();
    const error = await rejectionOf(resumeStream(RESUME_URL, { ...callbacks, offset }));

    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as Error).message).toContain("offset must be the offset of the last frame");
    expect(events).toEqual([["done"]]);
  });

  it("rejects a Last-Event-ID header in fetchOpts: the offset belongs in the offset option", async () => {
    const error = await rejectionOf(resumeStream(RESUME_URL, { fetchOpts: { headers: { "Last-Event-ID": "1-2" } } }));

    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as Error).message).toContain("as the offset option");
  });

  it("refuses the option's former name, lastEventId, saying to pass offset (rather than reading the whole log again)", async () => {
    const wait = inSequence(() => sseResponse(sse(metadata, resultFrame("1-4", "1"))));
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));
    const { callbacks } = recorder();
    const former = { ...callbacks, lastEventId: "1-3" } as ResumeStreamOptions;
    const error = await resumeStream(RESUME_URL, former).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as Error).message).toContain("pass { offset }");
    expect(wait.seen).toEqual([]);
  });
});
