import {
  NO_WAIT,
  ORIGIN,
  commitFrame,
  dataFrame,
  durableRun,
  inSequence,
  recorder,
  resultFrame,
  servePosts,
  sse,
  sseResponse,
  setupTestServer,
} from "@durastream/client-testing";
import { PROTOCOL_VERSION } from "@durastream/protocol";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import { fetchWithStream } from "./fetch-with-stream.js";

// An endpoint may answer a request with `303 See Other` to the run's wait URL (the protocol's path
// for clients that do not ask for SSE, and a server's choice in general). fetch follows it; when
// the wait URL serves the stream, it is read like any other.

const server = setupTestServer();

const RUN_ID = "01JSEEOTHER000000000000000";
const ENDPOINT = `${ORIGIN}/api/chat`;
const { waitPath: WAIT_PATH, resumeUrl: RESUME_URL, metadata } = durableRun(RUN_ID);
const serveEndpoint = (respond: () => Response) => servePosts(server, ENDPOINT, respond);

describe("fetchWithStream and HTTP 303", () => {
  it("reads the stream a 303 from the endpoint leads to, resolving its relative URLs against the final URL", async () => {
    const endpoint = serveEndpoint(() => new HttpResponse(null, { status: 303, headers: { location: `/api/wait/${RUN_ID}?token=t0k` } }));
    const wait = inSequence(() =>
      sseResponse(
        sse({ ...metadata, resumeUrl: `${RUN_ID}?token=t0k` }, dataFrame("1-1", "from the wait URL"), commitFrame("1-2"), resultFrame("1-3", '"waited"')),
      ),
    );
    server.use(http.get(`${ORIGIN}/api/wait/${RUN_ID}`, wait.resolver));

    const { events, callbacks } = recorder();
    const response = await fetchWithStream(ENDPOINT, { ...callbacks, fetchOpts: { method: "POST", body: "{}" } });

    expect(await response.json()).toBe("waited");
    expect(events).toEqual([
      [
        "metadata",
        {
          runId: RUN_ID,
          protocolVersion: PROTOCOL_VERSION,
          resumeUrl: `${ORIGIN}/api/wait/${RUN_ID}?token=t0k`,
          offset: null,
        },
      ],
      ["data", { data: "from the wait URL", hashedStepId: null, offset: "1-1" }],
      ["commit", { hashedStepId: null, offset: "1-2" }],
      ["done"],
    ]);
    expect(endpoint.posts).toHaveLength(1);
    // fetch turned the POST into a GET for the 303, keeping the Accept header.
    expect(wait.seen).toEqual([{ method: "GET", url: `${ORIGIN}/api/wait/${RUN_ID}?token=t0k`, accept: "text/event-stream", lastEventId: null, custom: null }]);
  });

  it("reconnects after a drop on a stream reached through a 303", async () => {
    serveEndpoint(() => new HttpResponse(null, { status: 303, headers: { location: WAIT_PATH } }));
    const wait = inSequence(
      () => sseResponse(sse(metadata, dataFrame("1-1", "a"))),
      () => sseResponse(sse(metadata, dataFrame("1-2", "b"), resultFrame("1-3", "5"))),
    );
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));

    const { events, callbacks } = recorder();
    const response = await fetchWithStream(ENDPOINT, { ...callbacks, reconnect: NO_WAIT, fetchOpts: { method: "POST" } });

    expect(await response.json()).toBe(5);
    expect(wait.seen.map(({ url, lastEventId }) => [url, lastEventId])).toEqual([
      [`${ORIGIN}${WAIT_PATH}`, null],
      [RESUME_URL, "1-1"],
    ]);
    expect(events.filter(([name]) => name === "data").map(([, chunk]) => (chunk as { offset: string }).offset)).toEqual(["1-1", "1-2"]);
    expect(events.filter(([name]) => name === "reconnect")).toHaveLength(1);
  });

  it("returns the stored response a 303 leads to as it came when it is not a stream", async () => {
    serveEndpoint(() => new HttpResponse(null, { status: 303, headers: { location: WAIT_PATH } }));
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, () => HttpResponse.json({ stored: true }, { status: 201 })));

    const { events, callbacks } = recorder();
    const response = await fetchWithStream(ENDPOINT, { ...callbacks, fetchOpts: { method: "POST" } });

    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ stored: true });
    expect(events).toEqual([["done"]]);
  });
});
