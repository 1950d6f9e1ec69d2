import {
  ORIGIN,
  commitFrame,
  dataFrame,
  durableRun,
  expectDoneOnceAndLast,
  recorder,
  resultFrame,
  splitAwkwardly,
  sse,
  sseResponse,
  setupTestServer,
} from "@durastream/client-testing";
import { PROTOCOL_VERSION, hashStepId } from "@durastream/protocol";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import { fetchWithStream } from "./fetch-with-stream.js";

const server = setupTestServer();

const STEP_A = await hashStepId("generate");
const STEP_B = await hashStepId("summarize");
const RUN_ID = "01JABCDEFGHJKMNPQRSTVWXYZ0";

const { metadata } = durableRun(RUN_ID);

describe("fetchWithStream on a Durastream stream", () => {
  it("calls the callbacks in frame order with their arguments, across awkward chunk splits", async () => {
    const text = sse(
      metadata,
      dataFrame("1-1", "Grüße, ", STEP_A),
      dataFrame("1-2", { token: "🦆 quack", index: 2 }, STEP_A),
      commitFrame("1-3", STEP_A),
      dataFrame("1-4", "outside ✓"),
      commitFrame("1-5"),
      resultFrame("1-6", '{"answer":"Grüße 🦆"}'),
    );
    // The fixture really cuts through multibyte characters.
    expect(splitAwkwardly(text).some((chunk) => !isCompleteUtf8(chunk))).toBe(true);
    server.use(http.get(`${ORIGIN}/api/chat`, () => sseResponse(text)));

    const { events, callbacks } = recorder();
    const response = await fetchWithStream(`${ORIGIN}/api/chat`, callbacks);

    expect(events).toEqual([
      [
        "metadata",
        {
          runId: RUN_ID,
          protocolVersion: PROTOCOL_VERSION,
          resumeUrl: `${ORIGIN}/api/durable/${RUN_ID}?token=t0k`,
          offset: null,
        },
      ],
      ["data", { data: "Grüße, ", hashedStepId: STEP_A, offset: "1-1" }],
      ["data", { data: { token: "🦆 quack", index: 2 }, hashedStepId: STEP_A, offset: "1-2" }],
      ["commit", { hashedStepId: STEP_A, offset: "1-3" }],
      ["data", { data: "outside ✓", hashedStepId: null, offset: "1-4" }],
      ["commit", { hashedStepId: null, offset: "1-5" }],
      ["done"],
    ]);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ answer: "Grüße 🦆" });
  });

  it("keeps interleaved parallel steps apart, with rollbacks and retries", async () => {
    server.use(
      http.get(`${ORIGIN}/api/parallel`, () =>
        sseResponse(
          sse(
            metadata,
            dataFrame("1-1", "a1", STEP_A),
            dataFrame("1-2", "b1", STEP_B),
            dataFrame("1-3", "a2", STEP_A),
            commitFrame("1-4", STEP_B),
            {
              type: "rollback",
              offset: "1-5",
              hashedStepId: STEP_A,
              attempt: 1,
              willRetry: true,
              error: { name: "TypeError", message: "socket hang up" },
            },
            dataFrame("1-6", "a1 again", STEP_A),
            {
              type: "rollback",
              offset: "1-7",
              hashedStepId: STEP_A,
              attempt: 2,
              willRetry: false,
              error: { name: "NonRetriableError", message: "quota exceeded" },
            },
            resultFrame("1-8", "{}"),
          ),
        ),
      ),
    );

    const { events, callbacks } = recorder();
    await fetchWithStream(`${ORIGIN}/api/parallel`, callbacks);

    expect(events.slice(1)).toEqual([
      ["data", { data: "a1", hashedStepId: STEP_A, offset: "1-1" }],
      ["data", { data: "b1", hashedStepId: STEP_B, offset: "1-2" }],
      ["data", { data: "a2", hashedStepId: STEP_A, offset: "1-3" }],
      ["commit", { hashedStepId: STEP_B, offset: "1-4" }],
      [
        "rollback",
        {
          hashedStepId: STEP_A,
          attempt: 1,
          willRetry: true,
          error: { name: "TypeError", message: "socket hang up" },
          offset: "1-5",
        },
      ],
      ["data", { data: "a1 again", hashedStepId: STEP_A, offset: "1-6" }],
      [
        "rollback",
        {
          hashedStepId: STEP_A,
          attempt: 2,
          willRetry: false,
          error: { name: "NonRetriableError", message: "quota exceeded" },
          offset: "1-7",
        },
      ],
      ["done"],
    ]);
  });

  it("rebuilds the result response exactly: status, headers (repeated set-cookie) and binary body", async () => {
    const bytes = new Uint8Array([0, 255, 254, 128, 1, 0xc3, 0x28, 10]);
    server.use(
      http.get(`${ORIGIN}/api/binary`, () =>
        sseResponse(
          sse(
            metadata,
            resultFrame("1-1", btoa(String.fromCharCode(...bytes)), {
              status: 202,
              statusText: "Accepted",
              headers: [
                ["content-type", "application/octet-stream"],
                ["x-custom", "kept"],
                ["set-cookie", "a=1; Path=/"],
                ["set-cookie", "b=2; HttpOnly"],
              ],
              bodyEncoding: "base64",
            }),
          ),
        ),
      ),
    );

    const { events, callbacks } = recorder();
    const response = await fetchWithStream(`${ORIGIN}/api/binary`, callbacks);

    expect(response.status).toBe(202);
    expect(response.statusText).toBe("Accepted");
    expect(response.headers.get("content-type")).toBe("application/octet-stream");
    expect(response.headers.get("x-custom")).toBe("kept");
    expect(response.headers.getSetCookie()).toEqual(["a=1; Path=/", "b=2; HttpOnly"]);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes);
    expectDoneOnceAndLast(events);
  });

  it("resolves with a failed run's response (the handler's 500) rather than rejecting", async () => {
    server.use(
      http.get(`${ORIGIN}/api/fails`, () =>
        sseResponse(
          sse(
            metadata,
            resultFrame(
              "1-1",
              "Step failed: quota exceeded ✗",
              { status: 500, statusText: "Internal Server Error", headers: [["content-type", "text/plain; charset=utf-8"]] },
              "failed",
            ),
          ),
        ),
      ),
    );

    const { events, callbacks } = recorder();
    const response = await fetchWithStream(`${ORIGIN}/api/fails`, callbacks);

    expect(response.status).toBe(500);
    expect(await response.text()).toBe("Step failed: quota exceeded ✗");
    expect(events.map(([name]) => name)).toEqual(["metadata", "done"]);
  });

  it("accepts a content type in any case and with parameters", async () => {
    server.use(
      http.get(`${ORIGIN}/api/charset`, () => sseResponse(sse(metadata, resultFrame("1-1", '"ok"')), { "content-type": "Text/Event-Stream; charset=UTF-8" })),
    );

    const { events, callbacks } = recorder();
    const response = await fetchWithStream(`${ORIGIN}/api/charset`, callbacks);

    expect(await response.json()).toBe("ok");
    expect(events.map(([name]) => name)).toEqual(["metadata", "done"]);
  });

  it("decodes CRLF line endings", async () => {
    const text = sse(metadata, dataFrame("1-1", "crlf"), resultFrame("1-2", "1")).replaceAll("\n", "\r\n");
    server.use(http.get(`${ORIGIN}/api/crlf`, () => sseResponse(text)));

    const { events, callbacks } = recorder();
    await fetchWithStream(`${ORIGIN}/api/crlf`, callbacks);

    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "done"]);
  });

  it("ignores unknown events, unknown fields and comments, and reports them as warnings", async () => {
    const text =
      sse(metadata) +
      ": keep-alive\n\n" +
      'event: from-the-future\nid: 1-1\ndata: {"x":1}\n\n' +
      sse(dataFrame("1-2", "still here")) +
      "shiny: new-field\n\n" +
      sse(commitFrame("1-3"), resultFrame("1-4", "1"));
    server.use(http.get(`${ORIGIN}/api/future`, () => sseResponse(text)));

    const { events, callbacks } = recorder();
    const response = await fetchWithStream(`${ORIGIN}/api/future`, callbacks);

    expect(events.map(([name, argument]) => (name === "warning" ? `warning:${String(argument)}` : name))).toEqual([
      "metadata",
      "warning:UNKNOWN_EVENT",
      "data",
      "warning:UNKNOWN_FIELD",
      "commit",
      "done",
    ]);
    expect(await response.json()).toBe(1);
  });

  it("works without any callbacks", async () => {
    server.use(http.get(`${ORIGIN}/api/quiet`, () => sseResponse(sse(metadata, dataFrame("1-1", "x"), resultFrame("1-2", "7")))));

    const response = await fetchWithStream(new URL("/api/quiet", ORIGIN));

    expect(await response.json()).toBe(7);
  });
});

describe("fetchWithStream on other responses", () => {
  it("returns a non-SSE response as it came, and calls onDone", async () => {
    server.use(http.get(`${ORIGIN}/api/plain`, () => HttpResponse.json({ plain: true }, { status: 201, headers: { "x-plain": "yes" } })));

    const { events, callbacks } = recorder();
    const response = await fetchWithStream(`${ORIGIN}/api/plain`, callbacks);

    expect(response.status).toBe(201);
    expect(response.headers.get("x-plain")).toBe("yes");
    expect(response.bodyUsed).toBe(false);
    expect(await response.json()).toEqual({ plain: true });
    expect(events).toEqual([["done"]]);
  });

  it("returns an error page as it came, even when it claims to be an event stream", async () => {
    server.use(
      http.get(`${ORIGIN}/api/missing`, () => new HttpResponse("not here", { status: 404, headers: { "content-type": "text/html" } })),
      http.get(`${ORIGIN}/api/broken`, () => new HttpResponse("down", { status: 503, headers: { "content-type": "text/event-stream" } })),
    );

    const missing = recorder();
    const notFound = await fetchWithStream(`${ORIGIN}/api/missing`, missing.callbacks);
    expect(notFound.status).toBe(404);
    expect(await notFound.text()).toBe("not here");
    expect(missing.events).toEqual([["done"]]);

    const broken = recorder();
    const unavailable = await fetchWithStream(`${ORIGIN}/api/broken`, broken.callbacks);
    expect(unavailable.status).toBe(503);
    expect(await unavailable.text()).toBe("down");
    expect(broken.events).toEqual([["done"]]);
  });
});

describe("fetchWithStream request headers", () => {
  const echoHeaders = (): void => {
    server.use(
      http.all(`${ORIGIN}/api/echo`, async ({ request }) =>
        HttpResponse.json({
          method: request.method,
          accept: request.headers.get("accept"),
          custom: request.headers.get("x-custom"),
          authorization: request.headers.get("authorization"),
          body: request.method === "POST" ? await request.text() : null,
        }),
      ),
    );
  };

  it.each([
    ["a Headers instance", new Headers({ "X-Custom": "1", Authorization: "Bearer t" })],
    [
      "an array of pairs",
      [
        ["X-Custom", "1"],
        ["Authorization", "Bearer t"],
      ] satisfies [string, string][],
    ],
    ["a plain object", { "X-Custom": "1", Authorization: "Bearer t" }],
  ])("keeps the caller's headers given as %s and adds Accept", async (_shape, headers) => {
    echoHeaders();
    const response = await fetchWithStream(`${ORIGIN}/api/echo`, {
      fetchOpts: { method: "POST", headers, body: "prompt=hi" },
    });

    expect(await response.json()).toEqual({
      method: "POST",
      accept: "text/event-stream",
      custom: "1",
      authorization: "Bearer t",
      body: "prompt=hi",
    });
  });

  it.each([
    ["a Headers instance", new Headers({ Accept: "application/json", "X-Custom": "2" })],
    [
      "an array of pairs",
      [
        ["ACCEPT", "application/json"],
        ["X-Custom", "2"],
      ] satisfies [string, string][],
    ],
    ["a plain object", { accept: "application/json", "X-Custom": "2" }],
  ])("appends text/event-stream to the caller's own Accept given as %s", async (_shape, headers) => {
    echoHeaders();
    const response = await fetchWithStream(`${ORIGIN}/api/echo`, { fetchOpts: { headers } });

    expect(await response.json()).toMatchObject({ accept: "application/json, text/event-stream", custom: "2" });
  });

  it("does not repeat text/event-stream when the caller's Accept already lists it", async () => {
    echoHeaders();
    const response = await fetchWithStream(`${ORIGIN}/api/echo`, {
      fetchOpts: { headers: { Accept: "Text/Event-Stream;q=1, application/json" } },
    });

    expect(await response.json()).toMatchObject({ accept: "Text/Event-Stream;q=1, application/json" });
  });

  it("does not modify the caller's Headers instance", async () => {
    echoHeaders();
    const headers = new Headers({ "X-Custom": "3" });
    await fetchWithStream(`${ORIGIN}/api/echo`, { fetchOpts: { headers } });

    expect([...headers]).toEqual([["x-custom", "3"]]);
  });
});

function isCompleteUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}
