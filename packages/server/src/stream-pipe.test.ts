import { describe, expect, it } from "vitest";
import { pipeSource } from "./stream-pipe.js";

/** Lets `turns` turns of the event loop (macrotasks) pass: no clock involved. */
async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** An always-ready endless source that counts its reads and whether it was stopped. */
function endless() {
  const state = { pulled: 0, stopped: false };
  const source = async function* () {
    try {
      for (;;) {
        state.pulled += 1;
        yield "x";
      }
    } finally {
      state.stopped = true;
    }
  };
  return { state, source };
}

/** A backpressure gate the test opens by hand: closed, the pipe gets a promise to wait for. */
function gate() {
  let open = true;
  let release: (() => void) | null = null;
  let asked = 0;
  return {
    close: () => (open = false),
    open: () => {
      open = true;
      const resolve = release;
      release = null;
      resolve?.();
    },
    asked: () => asked,
    backpressure: (): Promise<void> | null => {
      asked += 1;
      if (open) return null;
      return new Promise<void>((resolve) => (release = resolve));
    },
  };
}

describe("pipeSource backpressure", () => {
  it("stops pulling the source while backpressure holds it back, and goes on when it is released", async () => {
    const { state, source } = endless();
    const valve = gate();
    const controller = new AbortController();
    const emitted: string[] = [];
    const piped = pipeSource(source, controller.signal, (text) => emitted.push(text), valve.backpressure);
    await turns(3);
    expect(state.pulled).toBeGreaterThan(100);
    valve.close();
    await turns(3);
    const paused = state.pulled;
    await turns(50);
    // No read while held back: the source is not pulled at all.
    expect(state.pulled).toBe(paused);
    expect(emitted).toHaveLength(paused);
    valve.open();
    await turns(3);
    expect(state.pulled).toBeGreaterThan(paused);
    controller.abort(new Error("enough"));
    await expect(piped).rejects.toThrow("enough");
    await turns(1);
    expect(state.stopped).toBe(true);
  });

  it("an abort while held back rejects at once and stops the source", async () => {
    const { state, source } = endless();
    const valve = gate();
    valve.close();
    const controller = new AbortController();
    const piped = pipeSource(source, controller.signal, () => {}, valve.backpressure);
    await turns(3);
    expect(state.pulled).toBe(1); // the first item, then it waits
    controller.abort(new Error("cancelled"));
    await expect(piped).rejects.toThrow("cancelled");
    await turns(1);
    expect(state.stopped).toBe(true);
    valve.open(); // released after the pipe settled: nothing more is read
    await turns(3);
    expect(state.pulled).toBe(1);
  });

  it("asks after every emitted item, and a finite source resolves with all its text", async () => {
    const valve = gate();
    const text = await pipeSource(
      async function* () {
        yield "a";
        yield new TextEncoder().encode("b");
        yield "c";
      },
      new AbortController().signal,
      () => {},
      valve.backpressure,
    );
    expect(text).toBe("abc");
    expect(valve.asked()).toBe(3);
  });
});
