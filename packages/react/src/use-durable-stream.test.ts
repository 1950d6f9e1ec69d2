// @vitest-environment happy-dom
import {
  ORIGIN,
  commitFrame,
  controlledStream,
  dataFrame,
  deferred,
  durableRun,
  inSequence,
  resultFrame,
  servePosts,
  sse,
  sseResponse,
  streamResponse,
  setupTestServer,
} from "@durastream/client-testing";
import { hashStepId, type Frame } from "@durastream/protocol";
import { act, cleanup, render, screen, waitFor } from "@testing-library/react";
import { http } from "msw";
import { StrictMode, createElement, useEffect, type ReactElement } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { useDurableStream, type UseDurableStreamOptions, type UseDurableStreamResult } from "./use-durable-stream.js";

const server = setupTestServer();
afterEach(() => {
  vi.useRealTimers();
  cleanup();
  sessionStorage.clear();
});

const STEP = await hashStepId("answer");
const RUN_ID = "01JREACTHOOK00000000000000";
const ENDPOINT = `${ORIGIN}/api/chat`;
const { waitPath: WAIT_PATH, resumeUrl: RESUME_URL, metadata } = durableRun(RUN_ID);

/** A chat message: committed text as is, uncommitted text dimmed; starts on mount when `autoStart`. */
function Message(props: {
  options: UseDurableStreamOptions;
  autoStart?: boolean;
  onRender?: (state: UseDurableStreamResult<string, unknown>) => void;
}): ReactElement {
  const state = useDurableStream<string>(props.options);
  props.onRender?.(state);
  const { start } = state;
  useEffect(() => {
    if (props.autoStart === true) void start();
  }, [props.autoStart, start]);
  return createElement(
    "p",
    { "data-status": state.status },
    createElement("span", { "data-testid": "committed" }, state.committedText),
    createElement("span", { "data-testid": "uncommitted", style: { opacity: 0.5 } }, state.uncommittedText),
    createElement("span", { "data-testid": "status" }, state.status),
  );
}

const text = (testId: string) => screen.getByTestId(testId).textContent;

describe("useDurableStream", () => {
  it("renders committed and uncommitted text as the stream goes", async () => {
    const body = controlledStream();
    servePosts(server, ENDPOINT, () => streamResponse(body.stream));
    render(createElement(Message, { options: { url: ENDPOINT, fetchOpts: { method: "POST" }, throttleMs: 0 }, autoStart: true }));
    expect(text("status")).toBe("connecting");

    act(() => body.send(sse(metadata, dataFrame("1-1", "Hel", STEP), dataFrame("1-2", "lo", STEP))));
    await waitFor(() => expect(text("uncommitted")).toBe("Hello"));
    expect(text("committed")).toBe("");
    expect(text("status")).toBe("streaming");

    act(() => body.send(sse(commitFrame("1-3", STEP), dataFrame("1-4", " world", STEP))));
    await waitFor(() => expect(text("committed")).toBe("Hello"));
    expect(text("uncommitted")).toBe(" world");

    act(() => body.send(sse(commitFrame("1-5", STEP), resultFrame("1-6", '"Hello world"'))));
    await waitFor(() => expect(text("status")).toBe("succeeded"));
    expect(text("committed")).toBe("Hello world");
    expect(text("uncommitted")).toBe("");
  });

  it("throttles renders under a fast stream, and always renders the final state", async () => {
    const FRAMES = 200;
    const frames: Frame[] = [metadata];
    for (let index = 1; index <= FRAMES; index += 1) frames.push(dataFrame(`1-${index}`, `${index % 10}`, STEP));
    frames.push(commitFrame(`1-${FRAMES + 1}`, STEP), resultFrame(`1-${FRAMES + 2}`, '"done"'));
    const body = controlledStream();
    servePosts(server, ENDPOINT, () => streamResponse(body.stream));
    let renders = 0;
    const rendered: string[] = [];
    const started = deferred();
    render(
      createElement(Message, {
        options: { url: ENDPOINT, fetchOpts: { method: "POST" }, throttleMs: 50 },
        autoStart: true,
        onRender: (state) => {
          renders += 1;
          rendered.push(state.status);
          if (state.status === "connecting") started.resolve();
        },
      }),
    );
    await started.promise;
    const rendersBefore = renders;
    // Every frame in its own chunk, all delivered at once.
    act(() => {
      for (const frame of frames) body.send(sse(frame));
      body.close();
    });
    await waitFor(() => expect(text("status")).toBe("succeeded"));

    const expected = Array.from({ length: FRAMES }, (_, index) => `${(index + 1) % 10}`).join("");
    expect(text("committed")).toBe(expected);
    expect(renders - rendersBefore).toBeLessThan(20);
    expect(rendered.at(-1)).toBe("succeeded");
  });

  it("renders about once per throttleMs while frames trickle in (leading and trailing), on fake time", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const body = controlledStream();
    servePosts(server, ENDPOINT, () => streamResponse(body.stream));
    const rendered: string[] = [];
    render(
      createElement(Message, {
        options: { url: ENDPOINT, fetchOpts: { method: "POST" }, throttleMs: 50 },
        autoStart: true,
        onRender: (state) => rendered.push(`${state.status}:${state.uncommittedText.length}`),
      }),
    );
    await act(() => vi.advanceTimersByTimeAsync(0));
    act(() => body.send(sse(metadata)));
    await act(() => vi.advanceTimersByTimeAsync(0));
    const rendersBefore = rendered.length;
    // 200 frames over 400 ms: 10 every 20 ms.
    let offset = 0;
    for (let batch = 0; batch < 20; batch += 1) {
      act(() => {
        for (let index = 0; index < 10; index += 1) body.send(sse(dataFrame(`1-${++offset}`, "x", STEP)));
      });
      await act(() => vi.advanceTimersByTimeAsync(20));
    }
    await act(() => vi.advanceTimersByTimeAsync(100));
    const duringStream = rendered.slice(rendersBefore);
    // One render per 50 ms window at most: 400 ms of frames → about 8, never one per batch or frame.
    expect(duringStream.length).toBeGreaterThanOrEqual(6);
    expect(duringStream.length).toBeLessThanOrEqual(10);
    expect(duringStream.at(-1)).toBe("streaming:200");
    expect(text("uncommitted")).toHaveLength(200);

    act(() => body.send(sse(commitFrame(`1-${++offset}`, STEP), resultFrame(`1-${++offset}`, '"done"'))));
    await act(() => vi.advanceTimersByTimeAsync(0));
    expect(text("status")).toBe("succeeded");
    expect(text("committed")).toHaveLength(200);
    expect(rendered.at(-1)).toBe("succeeded:0");
  });

  it("sends exactly one POST under Strict Mode when a component starts in an effect", async () => {
    const endpoint = servePosts(server, ENDPOINT, () => sseResponse(sse(metadata, dataFrame("1-1", "once"), commitFrame("1-2"), resultFrame("1-3", '"once"'))));
    render(createElement(StrictMode, null, createElement(Message, { options: { url: ENDPOINT, fetchOpts: { method: "POST" } }, autoStart: true })));
    await waitFor(() => expect(text("status")).toBe("succeeded"));
    expect(text("committed")).toBe("once");
    // Let a wrongly scheduled abort or second start show up.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(endpoint.posts).toHaveLength(1);
    expect(text("status")).toBe("succeeded");
  });

  it("aborts the connection on unmount (after Strict Mode's remount kept it)", async () => {
    const body = controlledStream();
    let requestSignal: AbortSignal | undefined;
    server.use(
      http.post(ENDPOINT, ({ request }) => {
        requestSignal = request.signal;
        return streamResponse(body.stream);
      }),
    );
    const { unmount } = render(
      createElement(StrictMode, null, createElement(Message, { options: { url: ENDPOINT, fetchOpts: { method: "POST" } }, autoStart: true })),
    );
    act(() => body.send(sse(metadata, dataFrame("1-1", "partial"))));
    await waitFor(() => expect(text("uncommitted")).toBe("partial"));
    expect(body.wasCancelled()).toBe(false);

    unmount();
    await body.cancelled;
    expect(requestSignal?.aborted).toBe(true);
  });

  it("resumes a persisted run on mount, from sessionStorage, without a POST", async () => {
    sessionStorage.setItem("chat", JSON.stringify({ runId: RUN_ID, resumeUrl: RESUME_URL, offset: "1-3", committed: ["Hello"] }));
    const endpoint = servePosts(server, ENDPOINT, () => sseResponse(sse(metadata, resultFrame("1-1", '"new"'))));
    const wait = inSequence(() => sseResponse(sse(metadata, dataFrame("1-4", " again", STEP), commitFrame("1-5", STEP), resultFrame("1-6", '"Hello again"'))));
    server.use(http.get(`${ORIGIN}${WAIT_PATH}`, wait.resolver));
    render(createElement(StrictMode, null, createElement(Message, { options: { url: ENDPOINT, fetchOpts: { method: "POST" }, persistKey: "chat" } })));
    await waitFor(() => expect(text("status")).toBe("succeeded"));
    expect(text("committed")).toBe("Hello again");
    expect(endpoint.posts).toHaveLength(0);
    expect(wait.seen.map(({ url, lastEventId }) => ({ url, lastEventId }))).toEqual([{ url: RESUME_URL, lastEventId: "1-3" }]);
    expect(sessionStorage.getItem("chat")).toBeNull();
  });

  it("does not resume on mount when resumeOnMount is false, and passes the latest options to start()", async () => {
    sessionStorage.setItem("chat", JSON.stringify({ runId: RUN_ID, resumeUrl: RESUME_URL, offset: null, committed: [] }));
    const seen: string[] = [];
    server.use(
      http.post(`${ORIGIN}/api/:name`, ({ request }) => {
        seen.push(request.url);
        return sseResponse(sse(metadata, resultFrame("1-1", "1")));
      }),
    );
    let latest: UseDurableStreamResult<string, unknown> | undefined;
    const options = (url: string): UseDurableStreamOptions => ({ url, fetchOpts: { method: "POST" }, persistKey: "other", resumeOnMount: false });
    const { rerender } = render(createElement(Message, { options: options(`${ORIGIN}/api/first`), onRender: (state) => (latest = state) }));
    expect(text("status")).toBe("idle");
    rerender(createElement(Message, { options: options(`${ORIGIN}/api/second`), onRender: (state) => (latest = state) }));
    await act(() => latest!.start());
    expect(seen).toEqual([`${ORIGIN}/api/second`]);
    expect(text("status")).toBe("succeeded");
    act(() => latest!.reset());
    expect(text("status")).toBe("idle");
  });
});
