// Log frames whose offset is not after the last one applied, within one connection (PROTOCOL.md,
// Redirect and resume): skipped. And a result frame re-sent at or before the resume offset ends the stream.
import { ORIGIN, commitFrame, dataFrame, durableRun, recorder, resultFrame, servePosts, sse, sseResponse, setupTestServer } from "@durastream/client-testing";
import { http } from "msw";
import { describe, expect, it } from "vitest";
import { createDurableStream } from "./durable-stream.js";
import { fetchWithStream } from "./fetch-with-stream.js";
import { resumeStream } from "./resume-stream.js";

const server = setupTestServer();

const RUN_ID = "01JDUPL0000000000000000000";
const ENDPOINT = `${ORIGIN}/api/chat`;
const { waitPath: WAIT_PATH, resumeUrl: RESUME_URL, metadata } = durableRun(RUN_ID);

describe("duplicate and backward offsets within one connection", () => {
  it("fetchWithStream delivers each offset once, in increasing order", async () => {
    servePosts(server, ENDPOINT, () =>
      sseResponse(
        sse(
          metadata,
          dataFrame("1-1", "A"),
          dataFrame("1-2", "B"),
          dataFrame("1-2", "B"), // duplicate
          dataFrame("1-1", "A"), // backward
          dataFrame("1-3", "C"),
          commitFrame("1-4"),
          commitFrame("1-4"), // duplicate commit
          resultFrame("1-5", "done"),
        ),
      ),
    );
    const { events, callbacks } = recorder();
    const response = await fetchWithStream(ENDPOINT, { ...callbacks, fetchOpts: { method: "POST" } });
    expect(await response.text()).toBe("done");
    expect(events.filter(([name]) => name === "data" || name === "commit")).toEqual([
      ["data", { data: "A", hashedStepId: null, offset: "1-1" }],
      ["data", { data: "B", hashedStepId: null, offset: "1-2" }],
      ["data", { data: "C", hashedStepId: null, offset: "1-3" }],
      ["commit", { hashedStepId: null, offset: "1-4" }],
    ]);
  });

  it("the committed view is [A, B], not [A, B, B]", async () => {
    servePosts(server, ENDPOINT, () =>
      sseResponse(sse(metadata, dataFrame("1-1", "A"), dataFrame("1-2", "B"), dataFrame("1-2", "B"), commitFrame("1-3"), resultFrame("1-4", "{}"))),
    );
    const stream = createDurableStream<string>({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    await stream.start();
    expect(stream.getSnapshot().committed.toArray()).toEqual(["A", "B"]);
  });

  it("a frame of an older epoch after a newer one is skipped (offsets order by epoch first)", async () => {
    servePosts(server, ENDPOINT, () =>
      sseResponse(sse(metadata, dataFrame("2-5", "new"), dataFrame("1-9", "stale"), commitFrame("2-6"), resultFrame("2-7", "ok"))),
    );
    const { events, callbacks } = recorder();
    await fetchWithStream(ENDPOINT, { ...callbacks, fetchOpts: { method: "POST" } });
    expect(events.filter(([name]) => name === "data").map(([, argument]) => (argument as { data: unknown }).data)).toEqual(["new"]);
  });
});

describe("resuming at or past the result frame", () => {
  it("resumeStream ends with the result the server sends again, without delivering it again", async () => {
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, () => sseResponse(sse(metadata, resultFrame("1-6", "Hello world")))));
    let results = 0;
    const { events, callbacks } = recorder();
    const response = await resumeStream(RESUME_URL, {
      ...callbacks,
      offset: "1-6",
      onResult: () => {
        results += 1;
      },
    });
    expect(await response.text()).toBe("Hello world");
    expect(results).toBe(0);
    expect(events.map(([name]) => name)).toEqual(["metadata", "done"]);
  });

  it("also when the offset is past the result frame", async () => {
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, () => sseResponse(sse(metadata, resultFrame("1-6", "Hello world")))));
    const response = await resumeStream(RESUME_URL, { offset: "3-1" });
    expect(await response.text()).toBe("Hello world");
  });
});
