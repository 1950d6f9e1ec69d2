import {
  ORIGIN,
  commitFrame,
  controlledStream,
  dataFrame,
  deferred,
  durableRun,
  expectClientError,
  recordStatuses,
  resultFrame,
  rollbackFrame,
  see,
  servePosts,
  snapshotWhere,
  sse,
  sseResponse,
  streamResponse,
  setupTestServer,
  type SeenRequest,
} from "@durastream/client-testing";
import { InvalidOptionsError, hashStepId } from "@durastream/protocol";
import { http, HttpResponse } from "msw";
import { describe, expect, it } from "vitest";
import type { DurableStreamSnapshot } from "./durable-stream-types.js";
import { createDurableStream } from "./durable-stream.js";

const server = setupTestServer();

const STEP_A = await hashStepId("draft");
const STEP_B = await hashStepId("search");
const RUN_ID = "01JSTORE000000000000000000";
const ENDPOINT = `${ORIGIN}/api/chat`;
const { resumeUrl: RESUME_URL, metadata } = durableRun(RUN_ID);

/** Every snapshot a subscriber sees, in order. */
function recordSnapshots<T, R>(stream: { subscribe(listener: () => void): () => void; getSnapshot(): DurableStreamSnapshot<T, R> }) {
  const snapshots: DurableStreamSnapshot<T, R>[] = [];
  stream.subscribe(() => snapshots.push(stream.getSnapshot()));
  return snapshots;
}

/** A snapshot's lists as plain data, for `toEqual`. */
function lists(snapshot: DurableStreamSnapshot<unknown, unknown>) {
  return {
    committed: snapshot.committed.toArray(),
    uncommitted: snapshot.uncommitted.map((step) => [step.hashedStepId, step.chunks.toArray()]),
    committedText: snapshot.committedText,
    uncommittedText: snapshot.uncommittedText,
  };
}

describe("createDurableStream: the committed view", () => {
  it("keeps parallel steps apart, drops a rolled-back step and commits each step in one piece", async () => {
    const endpoint = servePosts(server, ENDPOINT, () =>
      sseResponse(
        sse(
          metadata,
          dataFrame("1-1", "A1 ", STEP_A),
          dataFrame("1-2", "B1 ", STEP_B),
          dataFrame("1-3", "A2 ", STEP_A),
          commitFrame("1-4", STEP_B),
          rollbackFrame("1-5", STEP_A),
          dataFrame("1-6", "a1 ", STEP_A),
          dataFrame("1-7", { tool: "calculator" }, STEP_A),
          commitFrame("1-8", STEP_A),
          resultFrame("1-9", '{"answer":"B1 a1"}'),
        ),
      ),
    );
    const stream = createDurableStream<unknown, { answer: string }>({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    const statuses = recordStatuses(stream);
    const snapshots = recordSnapshots(stream);

    await stream.start();

    const at = (offset: string) => snapshots.find((snapshot) => snapshot.offset === offset)!;
    expect(lists(at("1-3"))).toEqual({
      committed: [],
      uncommitted: [
        [STEP_A, ["A1 ", "A2 "]],
        [STEP_B, ["B1 "]],
      ],
      committedText: "",
      uncommittedText: "A1 A2 B1 ",
    });
    expect(lists(at("1-4"))).toMatchObject({ committed: ["B1 "], uncommitted: [[STEP_A, ["A1 ", "A2 "]]], uncommittedText: "A1 A2 " });
    expect(lists(at("1-5"))).toMatchObject({ committed: ["B1 "], uncommitted: [], uncommittedText: "" });
    expect(lists(at("1-7"))).toMatchObject({ uncommitted: [[STEP_A, ["a1 ", { tool: "calculator" }]]], uncommittedText: "a1 " });

    const final = stream.getSnapshot();
    expect(lists(final)).toEqual({ committed: ["B1 ", "a1 ", { tool: "calculator" }], uncommitted: [], committedText: "B1 a1 ", uncommittedText: "" });
    expect(final).toMatchObject({ status: "succeeded", runId: RUN_ID, resumeUrl: RESUME_URL, offset: "1-9", error: null });
    expect(final.result).toEqual({ status: 200, statusText: "OK", headers: [["content-type", "application/json"]], body: { answer: "B1 a1" } });
    expect(statuses).toEqual(["connecting", "streaming", "succeeded"]);
    expect(endpoint.posts).toHaveLength(1);
  });

  it("calls the option callbacks after the state took each frame in, and onFinish with the final snapshot", async () => {
    servePosts(server, ENDPOINT, () =>
      sseResponse(
        sse(
          metadata,
          dataFrame("1-1", "A ", STEP_A),
          rollbackFrame("1-2", STEP_A),
          dataFrame("1-3", "a ", STEP_A),
          commitFrame("1-4", STEP_A),
          resultFrame("1-5", "{}"),
        ),
      ),
    );
    const seen: string[] = [];
    const stream = createDurableStream<string>({
      url: ENDPOINT,
      fetchOpts: { method: "POST" },
      onMetadata: ({ runId }) => seen.push(`metadata ${runId === RUN_ID}`),
      onData: ({ data }) => seen.push(`data ${String(data)} uncommitted=${stream.getSnapshot().uncommittedText}`),
      onRollback: ({ attempt }) => seen.push(`rollback ${attempt} uncommitted=${stream.getSnapshot().uncommittedText}`),
      onCommit: () => seen.push(`commit committed=${stream.getSnapshot().committedText}`),
      onFinish: (snapshot) => seen.push(`finish ${snapshot.status} ${snapshot.committedText}`),
    });
    await stream.start();
    expect(seen).toEqual([
      "metadata true",
      "data A  uncommitted=A ",
      "rollback 1 uncommitted=",
      "data a  uncommitted=a ",
      "commit committed=a ",
      "finish succeeded a ",
    ]);
  });

  it("hands out snapshots that are stable until a change and never change afterwards", async () => {
    const body = controlledStream();
    servePosts(server, ENDPOINT, () => streamResponse(body.stream));
    const stream = createDurableStream<string>({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    const initial = stream.getSnapshot();
    expect(stream.getSnapshot()).toBe(initial);
    expect(initial).toMatchObject({ status: "idle", runId: null, committedText: "", uncommitted: [], result: null, error: null });

    const pending = stream.start();
    body.send(sse(metadata, dataFrame("1-1", "Hel", STEP_A), dataFrame("1-2", "lo", STEP_A), commitFrame("1-3", STEP_A)));
    const first = await snapshotWhere(stream, (snapshot) => snapshot.offset === "1-3");
    expect(stream.getSnapshot()).toBe(first);
    expect(stream.getSnapshot()).toBe(first);
    const firstArray = first.committed.toArray();
    expect(first.committed.toArray()).toBe(firstArray);

    body.send(sse(dataFrame("1-4", " wor", STEP_B)));
    const second = await snapshotWhere(stream, (snapshot) => snapshot.offset === "1-4");
    expect(second).not.toBe(first);
    // Nothing was committed in between: the committed list is the very same.
    expect(second.committed).toBe(first.committed);

    body.send(sse(dataFrame("1-5", "ld", STEP_B), commitFrame("1-6", STEP_B), resultFrame("1-7", '"Hello world"')));
    await pending;
    const final = stream.getSnapshot();
    expect(final.committed.toArray()).toEqual(["Hel", "lo", " wor", "ld"]);
    expect(final.committedText).toBe("Hello world");
    // The old snapshots are untouched by later appends.
    expect(first.committed.length).toBe(2);
    expect(first.committed.toArray()).toBe(firstArray);
    expect(firstArray).toEqual(["Hel", "lo"]);
    expect([...first.committed]).toEqual(["Hel", "lo"]);
    expect(first.committed.at(2)).toBeUndefined();
    expect(second.uncommitted.map((step) => step.chunks.toArray())).toEqual([[" wor"]]);
    expect(second.uncommittedText).toBe(" wor");
    expect(Object.isFrozen(final)).toBe(true);
  });

  it("counts only string chunks in committedText and uncommittedText", async () => {
    servePosts(server, ENDPOINT, () =>
      sseResponse(
        sse(
          metadata,
          dataFrame("1-1", "The answer is "),
          dataFrame("1-2", { type: "tool-call", name: "calculate" }),
          dataFrame("1-3", 42),
          dataFrame("1-4", "42."),
          commitFrame("1-5"),
          dataFrame("1-6", "Pending", STEP_A),
          dataFrame("1-7", ["not", "text"], STEP_A),
          resultFrame("1-8", '"done"'),
        ),
      ),
    );
    const stream = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    await stream.start();
    const snapshot = stream.getSnapshot();
    expect(snapshot.committed.length).toBe(4);
    expect(snapshot.committedText).toBe("The answer is 42.");
    expect(snapshot.uncommittedText).toBe("Pending");
    expect(snapshot.uncommitted[0]?.text).toBe("Pending");
  });
});

describe("createDurableStream: requests and results", () => {
  it("sends fetchOpts merged with start()'s input (headers merged, input wins)", async () => {
    const seen: { request: SeenRequest; body: string; contentType: string | null }[] = [];
    server.use(
      http.put(ENDPOINT, async ({ request }) => {
        seen.push({ request: see(request), body: await request.text(), contentType: request.headers.get("content-type") });
        return sseResponse(sse(metadata, resultFrame("1-1", '"ok"')));
      }),
    );
    const stream = createDurableStream({
      url: new URL(ENDPOINT),
      fetchOpts: { method: "PUT", headers: { "x-custom": "default", "content-type": "application/json" }, body: "{}" },
    });
    await stream.start({ body: '{"prompt":"hi"}', headers: { "x-custom": "from input" } });
    expect(seen).toEqual([
      {
        request: expect.objectContaining({ method: "PUT", custom: "from input", accept: "text/event-stream" }),
        body: '{"prompt":"hi"}',
        contentType: "application/json",
      },
    ]);
  });

  it("reads a text result as text, and a failed run's result as failed", async () => {
    servePosts(server, ENDPOINT, () =>
      sseResponse(
        sse(
          metadata,
          resultFrame("1-1", "Step failed", { status: 500, statusText: "Internal Server Error", headers: [["content-type", "text/plain"]] }, "failed"),
        ),
      ),
    );
    const stream = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    await stream.start();
    expect(stream.getSnapshot()).toMatchObject({
      status: "failed",
      error: null,
      result: { status: 500, statusText: "Internal Server Error", headers: [["content-type", "text/plain"]], body: "Step failed" },
    });
  });

  it("uses the result frame's outcome, not the status code: a handler's own 500 succeeded", async () => {
    servePosts(server, ENDPOINT, () => sseResponse(sse(metadata, resultFrame("1-1", '{"error":"upstream"}', { status: 502, statusText: "Bad Gateway" }))));
    const stream = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    await stream.start();
    expect(stream.getSnapshot()).toMatchObject({ status: "succeeded", result: { status: 502, body: { error: "upstream" } } });
  });

  it("takes a response that is not a stream as the result: succeeded when ok, else failed", async () => {
    servePosts(server, ENDPOINT, () => HttpResponse.json({ plain: true }));
    const ok = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    await ok.start();
    expect(ok.getSnapshot()).toMatchObject({ status: "succeeded", runId: null, result: { status: 200, body: { plain: true } } });

    server.use(http.post(ENDPOINT, () => HttpResponse.text("Bad input", { status: 400 })));
    const bad = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    await bad.start();
    expect(bad.getSnapshot()).toMatchObject({ status: "failed", error: null, result: { status: 400, body: "Bad input" } });
  });

  it("fails with the DurableClientError when the stream fails for good", async () => {
    servePosts(server, ENDPOINT, () => sseResponse(sse(metadata, dataFrame("1-1", "Hel"))));
    const stream = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" }, reconnect: false });
    const statuses = recordStatuses(stream);
    await expect(stream.start()).resolves.toBeUndefined();
    const { status, error, uncommittedText, offset } = stream.getSnapshot();
    expect(status).toBe("failed");
    expectClientError(error, "STREAM_ENDED");
    expect(error.resumeUrl).toBe(RESUME_URL);
    expect({ uncommittedText, offset }).toEqual({ uncommittedText: "Hel", offset: "1-1" });
    expect(statuses).toEqual(["connecting", "streaming", "failed"]);
  });

  it("throws an InvalidOptionsError without a url", () => {
    expect(() => createDurableStream({} as never)).toThrow(InvalidOptionsError);
  });
});

describe("createDurableStream: start, abort and reset", () => {
  it("makes start() a no-op while a run is active (one POST, the same promise)", async () => {
    const body = controlledStream();
    const endpoint = servePosts(server, ENDPOINT, () => streamResponse(body.stream));
    const stream = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    const first = stream.start();
    const second = stream.start({ body: "ignored" });
    expect(second).toBe(first);
    body.send(sse(metadata, dataFrame("1-1", "a")));
    await snapshotWhere(stream, (snapshot) => snapshot.status === "streaming");
    expect(stream.start()).toBe(first);
    body.send(sse(commitFrame("1-2"), resultFrame("1-3", '"a"')));
    await first;
    expect(endpoint.posts).toHaveLength(1);
    expect(stream.getSnapshot().committedText).toBe("a");
  });

  it("aborts: status aborted with the reason, the connection is cancelled, the view is kept", async () => {
    const body = controlledStream();
    servePosts(server, ENDPOINT, () => streamResponse(body.stream));
    const stream = createDurableStream<string>({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    const statuses = recordStatuses(stream);
    const pending = stream.start();
    body.send(sse(metadata, dataFrame("1-1", "Hel")));
    await snapshotWhere(stream, (snapshot) => snapshot.uncommittedText === "Hel");

    const reason = new Error("The user closed the chat");
    stream.abort(reason);
    expect(stream.getSnapshot()).toMatchObject({ status: "aborted", error: reason, uncommittedText: "Hel", runId: RUN_ID });
    await body.cancelled;
    await expect(pending).resolves.toBeUndefined();
    expect(stream.getSnapshot().status).toBe("aborted");
    expect(statuses).toEqual(["connecting", "streaming", "aborted"]);
    stream.abort(); // a no-op once stopped
    expect(statuses).toEqual(["connecting", "streaming", "aborted"]);
  });

  it("reports an AbortError without a reason, and aborts when fetchOpts.signal aborts", async () => {
    const body = controlledStream();
    servePosts(server, ENDPOINT, () => streamResponse(body.stream));
    const controller = new AbortController();
    const stream = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST", signal: controller.signal } });
    const pending = stream.start();
    body.send(sse(metadata));
    await snapshotWhere(stream, (snapshot) => snapshot.status === "streaming");
    controller.abort();
    await pending;
    expect(stream.getSnapshot().status).toBe("aborted");
    expect(stream.getSnapshot().error?.name).toBe("AbortError");
    await body.cancelled;

    const stopped = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST", signal: AbortSignal.abort("gone") } });
    await stopped.start();
    expect(stopped.getSnapshot()).toMatchObject({ status: "aborted", error: { name: "AbortError", cause: "gone" } });
  });

  it("resets to the initial snapshot, cancels the connection, and starts anew afterwards", async () => {
    const bodies = [controlledStream(), controlledStream()];
    let posts = 0;
    servePosts(server, ENDPOINT, () => streamResponse(bodies[posts++]!.stream));
    const stream = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    const initial = stream.getSnapshot();
    const notified = recordStatuses(stream);
    const pending = stream.start();
    bodies[0]!.send(sse(metadata, dataFrame("1-1", "a"), commitFrame("1-2")));
    await snapshotWhere(stream, (snapshot) => snapshot.committedText === "a");

    stream.reset();
    expect(stream.getSnapshot()).toBe(initial);
    expect(notified.at(-1)).toBe("idle");
    await bodies[0]!.cancelled;
    await pending;
    expect(stream.getSnapshot()).toBe(initial);

    const again = stream.start();
    bodies[1]!.send(sse(metadata, dataFrame("1-1", "b"), commitFrame("1-2"), resultFrame("1-3", '"b"')));
    await again;
    expect(posts).toBe(2);
    expect(stream.getSnapshot()).toMatchObject({ status: "succeeded", committedText: "b" });
  });

  it("starts a new run after one finished, from an empty view", async () => {
    let count = 0;
    servePosts(server, ENDPOINT, () => {
      count += 1;
      return sseResponse(sse(metadata, dataFrame("1-1", `run ${count}`), commitFrame("1-2"), resultFrame("1-3", "null")));
    });
    const stream = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    await stream.start();
    const first = stream.getSnapshot();
    await stream.start();
    expect(first.committedText).toBe("run 1");
    expect(stream.getSnapshot().committedText).toBe("run 2");
    expect(stream.getSnapshot().committed.length).toBe(1);
  });

  it("keeps notifying other subscribers after one unsubscribed", async () => {
    const done = deferred();
    servePosts(server, ENDPOINT, () => sseResponse(sse(metadata, resultFrame("1-1", "1"))));
    const stream = createDurableStream({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    let calls = 0;
    const unsubscribe = stream.subscribe(() => (calls += 1));
    const statuses = recordStatuses(stream);
    unsubscribe();
    void stream.start().then(() => done.resolve());
    await done.promise;
    expect(calls).toBe(0);
    expect(statuses).toEqual(["connecting", "streaming", "succeeded"]);
  });
});
