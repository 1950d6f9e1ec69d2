import {
  NO_WAIT,
  ORIGIN,
  commitFrame,
  controlledStream,
  dataFrame,
  durableRun,
  inSequence,
  recordStatuses,
  redirectFrame,
  resultFrame,
  servePosts,
  snapshotWhere,
  sse,
  sseResponse,
  statusReached,
  streamResponse,
  setupTestServer,
} from "@durastream/client-testing";
import { hashStepId } from "@durastream/protocol";
import { http } from "msw";
import { describe, expect, it } from "vitest";
import { createDurableStream } from "./durable-stream.js";

const server = setupTestServer();

const STEP = await hashStepId("write");
const RUN_ID = "01JSTORECONNECTIONS0000000";
const ENDPOINT = `${ORIGIN}/api/chat`;
const { waitPath: WAIT_PATH, resumeUrl: RESUME_URL, metadata } = durableRun(RUN_ID);

describe("createDurableStream across connections", () => {
  it("follows a redirect mid-step: waiting until the next log frame, then streaming, no duplicates", async () => {
    const wait = controlledStream();
    const endpoint = servePosts(server, ENDPOINT, () =>
      sseResponse(sse(metadata, dataFrame("1-1", "Hel", STEP), dataFrame("1-2", "lo", STEP), redirectFrame(`${WAIT_PATH}?token=t0k`, "retry"))),
    );
    const waitEndpoint = inSequence(() => streamResponse(wait.stream));
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, waitEndpoint.resolver));
    const stream = createDurableStream<string>({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    const statuses = recordStatuses(stream);
    const pending = stream.start();

    const waiting = await statusReached(stream, "waiting");
    expect(waiting.uncommittedText).toBe("Hello");
    // The wait connection opens (metadata) and replays a frame the client already has: still waiting.
    wait.send(sse(metadata, dataFrame("1-2", "lo", STEP)));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(stream.getSnapshot().status).toBe("waiting");
    expect(stream.getSnapshot().uncommitted[0]?.chunks.toArray()).toEqual(["Hel", "lo"]);

    wait.send(sse(dataFrame("2-1", " world", STEP)));
    const resumed = await snapshotWhere(stream, (snapshot) => snapshot.offset === "2-1");
    expect(resumed.status).toBe("streaming");
    wait.send(sse(commitFrame("2-2", STEP), resultFrame("2-3", '"Hello world"')));
    wait.close();
    await pending;

    expect(stream.getSnapshot().committed.toArray()).toEqual(["Hel", "lo", " world"]);
    expect(stream.getSnapshot().committedText).toBe("Hello world");
    expect(statuses).toEqual(["connecting", "streaming", "waiting", "streaming", "succeeded"]);
    expect(endpoint.posts).toHaveLength(1);
    expect(waitEndpoint.seen.map(({ method, url, lastEventId }) => ({ method, url, lastEventId }))).toEqual([
      { method: "GET", url: RESUME_URL, lastEventId: "1-2" },
    ]);
  });

  it("stays waiting when the run redirects before any log frame, until frames flow", async () => {
    servePosts(server, ENDPOINT, () => sseResponse(sse(metadata, redirectFrame(`${WAIT_PATH}?token=t0k`, "sleep"))));
    server.use(
      http.get(`${ORIGIN}${WAIT_PATH}`, () => sseResponse(sse(metadata, dataFrame("1-1", "Good morning"), commitFrame("1-2"), resultFrame("1-3", '"ok"')))),
    );
    const stream = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    const statuses = recordStatuses(stream);
    await stream.start();
    expect(statuses).toEqual(["connecting", "streaming", "waiting", "streaming", "succeeded"]);
    expect(stream.getSnapshot().committedText).toBe("Good morning");
  });

  it("reconnects with Last-Event-ID after a dropped connection, without sending the POST again", async () => {
    const first = controlledStream();
    const endpoint = servePosts(server, ENDPOINT, () => streamResponse(first.stream));
    const waitEndpoint = inSequence(() =>
      sseResponse(sse(metadata, dataFrame("1-3", " there", STEP), commitFrame("1-4", STEP), resultFrame("1-5", '"Hi there"'))),
    );
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, waitEndpoint.resolver));
    const stream = createDurableStream<string>({ url: ENDPOINT, fetchOpts: { method: "POST", body: "{}" }, reconnect: NO_WAIT });
    const statuses = recordStatuses(stream);
    const pending = stream.start();
    first.send(sse(metadata, dataFrame("1-1", "Hi", STEP), dataFrame("1-2", "!", STEP)));
    await snapshotWhere(stream, (snapshot) => snapshot.offset === "1-2");
    first.fail(new Error("connection reset"));
    await pending;

    expect(statuses).toEqual(["connecting", "streaming", "reconnecting", "streaming", "succeeded"]);
    expect(endpoint.posts).toHaveLength(1);
    expect(waitEndpoint.seen.map(({ method, url, lastEventId }) => ({ method, url, lastEventId }))).toEqual([
      { method: "GET", url: RESUME_URL, lastEventId: "1-2" },
    ]);
    expect(stream.getSnapshot().committed.toArray()).toEqual(["Hi", "!", " there"]);
    expect(stream.getSnapshot().result?.body).toBe("Hi there");
  });

  it("goes back to waiting after a reconnect when the run was waiting", async () => {
    servePosts(server, ENDPOINT, () => sseResponse(sse(metadata, dataFrame("1-1", "a"), redirectFrame(`${WAIT_PATH}?token=t0k`))));
    const second = controlledStream();
    const waitEndpoint = inSequence(
      () => sseResponse(sse(metadata)), // drops while the run sleeps
      () => streamResponse(second.stream),
    );
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, waitEndpoint.resolver));
    const stream = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" }, reconnect: NO_WAIT });
    const statuses = recordStatuses(stream);
    const pending = stream.start();
    await statusReached(stream, "reconnecting");
    second.send(sse(metadata));
    // The reconnected connection is open: the run still sleeps.
    await statusReached(stream, "waiting");
    expect(stream.getSnapshot().status).toBe("waiting");
    second.send(sse(commitFrame("1-2"), resultFrame("1-3", '"a"')));
    await pending;
    expect(statuses).toEqual(["connecting", "streaming", "waiting", "reconnecting", "waiting", "streaming", "succeeded"]);
    expect(waitEndpoint.seen.map(({ lastEventId }) => lastEventId)).toEqual(["1-1", "1-1"]);
  });

  it("resumes a run by its position, with the committed chunks it had", async () => {
    const waitEndpoint = inSequence(() =>
      sseResponse(sse(metadata, dataFrame("1-4", " again", STEP), commitFrame("1-5", STEP), resultFrame("1-6", '"Hello again"'))),
    );
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, waitEndpoint.resolver));
    const stream = createDurableStream<string>({
      url: ENDPOINT,
      fetchOpts: { method: "POST", body: "not sent on resume", headers: { "x-custom": "kept" } },
    });
    const pending = stream.resume({ resumeUrl: RESUME_URL, offset: "1-3", committed: ["Hello"] });
    expect(stream.getSnapshot()).toMatchObject({ status: "connecting", resumeUrl: RESUME_URL, offset: "1-3", committedText: "Hello" });
    await pending;
    expect(stream.getSnapshot()).toMatchObject({ status: "succeeded", runId: RUN_ID, committedText: "Hello again" });
    expect(waitEndpoint.seen).toEqual([{ method: "GET", url: RESUME_URL, accept: "text/event-stream", lastEventId: "1-3", custom: "kept" }]);
  });

  it("reads the whole log when resuming without an offset (and ignores committed chunks then)", async () => {
    const waitEndpoint = inSequence(() => sseResponse(sse(metadata, dataFrame("1-1", "all"), commitFrame("1-2"), resultFrame("1-3", '"all"'))));
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, waitEndpoint.resolver));
    const stream = createDurableStream<string>({ url: ENDPOINT });
    await stream.resume({ resumeUrl: RESUME_URL, committed: ["would be duplicated"] });
    expect(stream.getSnapshot().committed.toArray()).toEqual(["all"]);
    expect(waitEndpoint.seen[0]?.lastEventId).toBeNull();
  });
});
