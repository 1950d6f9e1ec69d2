import { ORIGIN, commitFrame, dataFrame, durableRun, recorder, resultFrame, sse, sseResponse, setupTestServer } from "@durastream/client-testing";
import { http } from "msw";
import { describe, expect, it } from "vitest";
import type { StreamResult } from "./fetch-with-stream-options.js";
import { fetchWithStream } from "./fetch-with-stream.js";

const server = setupTestServer();
const { metadata } = durableRun("01JRESULTCALLBACK000000000");

describe("fetchWithStream onResult", () => {
  it("reports the run's outcome from the result frame, after the other frames and before onDone", async () => {
    server.use(
      http.get(`${ORIGIN}/api/fails`, () =>
        sseResponse(sse(metadata, dataFrame("1-1", "a"), commitFrame("1-2"), resultFrame("1-3", "Step failed", { status: 500 }, "failed"))),
      ),
    );
    const { events, callbacks } = recorder();
    const results: StreamResult[] = [];
    const response = await fetchWithStream(`${ORIGIN}/api/fails`, {
      ...callbacks,
      onResult: (result) => {
        results.push(result);
        events.push(["result"]);
      },
    });
    expect(results).toEqual([expect.objectContaining({ status: "failed", offset: "1-3", response: expect.objectContaining({ status: 500 }) })]);
    expect(events.map(([name]) => name)).toEqual(["metadata", "data", "commit", "result", "done"]);
    expect(response.status).toBe(500);
  });
});
