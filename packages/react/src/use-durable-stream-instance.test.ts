// @vitest-environment happy-dom
import {
  ORIGIN,
  commitFrame,
  controlledStream,
  dataFrame,
  durableRun,
  memoryStorage,
  resultFrame,
  servePosts,
  sse,
  sseResponse,
  streamResponse,
  setupTestServer,
} from "@durastream/client-testing";
import { createDurableStream, type DurableStream } from "@durastream/client";
import { act, cleanup, render, screen, waitFor } from "@testing-library/react";
import { http } from "msw";
import { StrictMode, createElement, type ReactElement } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { useDurableStream, type UseDurableStreamInstanceOptions, type UseDurableStreamOptions } from "./use-durable-stream.js";

const server = setupTestServer();
afterEach(() => cleanup());

const RUN_ID = "01JREACTSHARED000000000000";
const ENDPOINT = `${ORIGIN}/api/chat`;
const { waitPath: WAIT_PATH, resumeUrl: RESUME_URL, metadata } = durableRun(RUN_ID);

/** Shows one stream's status and text under `name`. */
function View(props: { name: string; options: UseDurableStreamOptions | UseDurableStreamInstanceOptions<string, unknown> }): ReactElement {
  const state = useDurableStream<string, unknown>(props.options);
  return createElement(
    "p",
    null,
    createElement("span", { "data-testid": `${props.name}-status` }, state.status),
    createElement("span", { "data-testid": `${props.name}-text` }, state.committedText + state.uncommittedText),
  );
}

const text = (testId: string) => screen.getByTestId(testId).textContent;
const views = (stream: DurableStream<string, unknown>, ...names: string[]) =>
  names.map((name) => createElement(View, { key: name, name, options: { stream, throttleMs: 0 } }));

describe("useDurableStream({ stream })", () => {
  it("renders one run in every component given the same stream, over one connection", async () => {
    const body = controlledStream();
    const endpoint = servePosts(server, ENDPOINT, () => streamResponse(body.stream));
    const stream = createDurableStream<string>({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    render(createElement(StrictMode, null, ...views(stream, "answer", "sidebar")));
    expect([text("answer-status"), text("sidebar-status")]).toEqual(["idle", "idle"]);

    await act(async () => {
      void stream.start();
    });
    act(() => body.send(sse(metadata, dataFrame("1-1", "Hel"), dataFrame("1-2", "lo"))));
    await waitFor(() => expect(text("answer-text")).toBe("Hello"));
    expect(text("sidebar-text")).toBe("Hello");
    expect([text("answer-status"), text("sidebar-status")]).toEqual(["streaming", "streaming"]);

    act(() => body.send(sse(commitFrame("1-3"), resultFrame("1-4", '"Hello"'))));
    await waitFor(() => expect(text("answer-status")).toBe("succeeded"));
    expect(text("sidebar-status")).toBe("succeeded");
    expect(endpoint.posts).toHaveLength(1);
  });

  it("starts the shared run from whichever component calls start(), once", async () => {
    const endpoint = servePosts(server, ENDPOINT, () => sseResponse(sse(metadata, dataFrame("1-1", "once"), commitFrame("1-2"), resultFrame("1-3", '"once"'))));
    const stream = createDurableStream<string>({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    const starts = new Map<string, () => Promise<void>>();
    function Starter(props: { name: string }): ReactElement {
      const { start, status } = useDurableStream({ stream });
      starts.set(props.name, start);
      return createElement("span", { "data-testid": props.name }, status);
    }
    render(createElement("div", null, createElement(Starter, { name: "left" }), createElement(Starter, { name: "right" })));
    await act(() => Promise.all([starts.get("left")!(), starts.get("right")!()]));
    expect([text("left"), text("right")]).toEqual(["succeeded", "succeeded"]);
    expect(stream.getSnapshot().committedText).toBe("once");
    expect(endpoint.posts).toHaveLength(1);
  });

  it("neither reconfigures nor aborts a stream it did not create, even when the last component unmounts", async () => {
    const body = controlledStream();
    servePosts(server, ENDPOINT, () => streamResponse(body.stream));
    const stream = createDurableStream<string>({ url: ENDPOINT, fetchOpts: { method: "POST" } });
    const setOptions = vi.spyOn(stream, "setOptions");
    const abort = vi.spyOn(stream, "abort");
    const first = render(createElement(StrictMode, null, ...views(stream, "first")));
    const second = render(createElement(StrictMode, null, ...views(stream, "second")));
    await act(async () => {
      void stream.start();
    });
    act(() => body.send(sse(metadata, dataFrame("1-1", "partial"))));
    await waitFor(() => expect(text("second-text")).toBe("partial"));

    first.unmount();
    second.unmount();
    await new Promise((resolve) => setTimeout(resolve, 20)); // an owned store's abort would have run by now
    expect(abort).not.toHaveBeenCalled();
    expect(setOptions).not.toHaveBeenCalled();
    expect(body.wasCancelled()).toBe(false);
    expect(stream.getSnapshot().status).toBe("streaming");

    // Mounted again, a component picks the run up where it is.
    render(createElement(View, { name: "again", options: { stream } }));
    expect(text("again-text")).toBe("partial");
    stream.abort();
  });

  it("resumes the stream's persisted run on mount only with resumeOnMount: true", async () => {
    const storage = memoryStorage({ chat: { runId: RUN_ID, resumeUrl: RESUME_URL, offset: "1-2", committed: ["Hello"] } });
    let waits = 0;
    server.use(
      http.get(`${ORIGIN}${WAIT_PATH}`, () => {
        waits += 1;
        return sseResponse(sse(metadata, dataFrame("1-3", " again"), commitFrame("1-4"), resultFrame("1-5", '"Hello again"')));
      }),
    );
    const stream = createDurableStream<string>({ url: ENDPOINT, fetchOpts: { method: "POST" }, persistKey: "chat", storage });
    const { unmount } = render(createElement(View, { name: "passive", options: { stream } }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(text("passive-status")).toBe("idle");
    expect(waits).toBe(0);
    unmount();

    render(createElement(View, { name: "resuming", options: { stream, resumeOnMount: true } }));
    await waitFor(() => expect(text("resuming-status")).toBe("succeeded"));
    expect(text("resuming-text")).toBe("Hello again");
    expect(waits).toBe(1);
  });

  it("follows a change of stream, and aborts the store it created when given a stream instead", async () => {
    const body = controlledStream();
    servePosts(server, ENDPOINT, () => streamResponse(body.stream));
    const other = createDurableStream<string>({ url: ENDPOINT });
    const ownOptions: UseDurableStreamOptions = { url: ENDPOINT, fetchOpts: { method: "POST" }, throttleMs: 0 };
    let start: (() => Promise<void>) | undefined;
    function Switching(props: { options: UseDurableStreamOptions | UseDurableStreamInstanceOptions<string, unknown> }): ReactElement {
      const state = useDurableStream<string, unknown>(props.options);
      start = state.start;
      return createElement("span", { "data-testid": "switching" }, `${state.status}:${state.uncommittedText}`);
    }
    const { rerender } = render(createElement(Switching, { options: ownOptions }));
    await act(async () => {
      void start!();
    });
    act(() => body.send(sse(metadata, dataFrame("1-1", "own"))));
    await waitFor(() => expect(text("switching")).toBe("streaming:own"));

    rerender(createElement(Switching, { options: { stream: other } }));
    expect(text("switching")).toBe("idle:");
    await body.cancelled; // the store the component created is no longer shown: its connection is closed

    rerender(createElement(Switching, { options: ownOptions }));
    expect(text("switching")).toBe("aborted:own"); // the component's own store again, as it was left
  });
});
