// @vitest-environment happy-dom
import { ORIGIN, controlledStream, dataFrame, durableRun, servePosts, setupTestServer, sse, streamResponse } from "@durastream/client-testing";
import { act, cleanup, renderHook, waitFor } from "@testing-library/react";
import { http } from "msw";
import { afterEach, describe, expect, it } from "vitest";
import { useDurableStream } from "./use-durable-stream.js";

const server = setupTestServer();
afterEach(() => cleanup());

const ENDPOINT = `${ORIGIN}/api/chat`;
const { waitPath, metadata } = durableRun("01JREACTCANCEL000000000000");

describe("useDurableStream().cancel", () => {
  it("stops the connection and sends DELETE to the run's resume URL; the uncommitted chunks go", async () => {
    const body = controlledStream();
    servePosts(server, ENDPOINT, () => streamResponse(body.stream));
    const deletes: string[] = [];
    server.use(
      http.delete(`${ORIGIN}${waitPath}`, ({ request }) => {
        deletes.push(request.url);
        return new Response(null, { status: 204 });
      }),
    );
    const { result } = renderHook(() => useDurableStream<string>({ url: ENDPOINT, fetchOpts: { method: "POST" }, throttleMs: 0 }));
    await act(async () => {
      void result.current.start();
    });
    act(() => body.send(sse(metadata, dataFrame("1-1", "Hel"))));
    await waitFor(() => expect(result.current.uncommittedText).toBe("Hel"));

    let cancelled: boolean | undefined;
    await act(async () => {
      cancelled = await result.current.cancel();
    });
    expect(cancelled).toBe(true);
    expect(deletes).toEqual([`${ORIGIN}${waitPath}?token=t0k`]);
    expect(result.current.status).toBe("aborted");
    expect(result.current.uncommittedText).toBe("");
  });
});
