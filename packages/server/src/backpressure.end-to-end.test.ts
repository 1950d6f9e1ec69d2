// Backpressure and response-size limits end to end over real loopback HTTP: createEndpointServer +
// durable.endpoint on one side, fetchWithStream on the other, a store slower than the sources.
import type { AddressInfo } from "node:net";
import { fetchWithStream } from "@durastream/client";
import { afterEach, describe, expect, it } from "vitest";
import { step, stream } from "./context.js";
import { createDurable, type DurableOptions } from "./create-durable.js";
import type { DurableHandler } from "./run-types.js";
import { createEndpointServer } from "./node/index.js";
import { MemoryRunStore } from "./store/memory-store.js";
import type { AppendEffects, FrameToAppend } from "./store/run-store.js";

/** A memory store whose appends of data frames each take a few turns of the event loop (no timers). */
class SlowStore extends MemoryRunStore {
  /** Data frames stored so far (appends resolved). */
  storedData = 0;

  override appendFrames(runId: string, epoch: number, frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<string> {
    const data = frames.filter((frame) => frame.type === "data").length;
    if (data === 0) return super.appendFrames(runId, epoch, frames, effects);
    return new Promise<void>((resolve) => {
      let left = 8;
      const tick = (): void => {
        if (--left <= 0) resolve();
        else setImmediate(tick);
      };
      setImmediate(tick);
    })
      .then(() => super.appendFrames(runId, epoch, frames, effects))
      .then((offset) => {
        this.storedData += data;
        return offset;
      });
  }
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function serve(handler: DurableHandler, options: DurableOptions) {
  const store = new SlowStore();
  const durable = createDurable({ store, backoff: () => 0, ...options });
  const endpoint = durable.endpoint(handler, { id: "e2e-backpressure" });
  const server = createEndpointServer(endpoint);
  cleanups.push(async () => {
    server.closeAllConnections();
    server.close();
    await durable.close({ timeout: 0 });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { store, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/run` };
}

/** Data chunks received, in order, and the rollbacks' errors. */
function received() {
  const data: unknown[] = [];
  const rollbacks: { willRetry: boolean; message: string }[] = [];
  return {
    data,
    rollbacks,
    callbacks: {
      onData: ({ data: chunk }: { data: unknown }) => void data.push(chunk),
      onRollback: ({ willRetry, error }: { willRetry: boolean; error: { message: string } }) => void rollbacks.push({ willRetry, message: error.message }),
    },
  };
}

describe("backpressure over HTTP", () => {
  it("an always-ready pipe into a slow store: the client gets every chunk in order while the backlog stays within maxBufferedBytes", async () => {
    const total = 20_000;
    let pulled = 0;
    let mostAhead = 0;
    const { store, url } = await serve(
      async () => {
        const text = await step.run("answer", () =>
          stream.pipe(async function* () {
            for (let index = 0; index < total; index += 1) {
              mostAhead = Math.max(mostAhead, pulled - store.storedData);
              pulled += 1;
              yield `${index % 10}`.repeat(50);
            }
          }),
        );
        return { length: text.length };
      },
      { limits: { maxBufferedBytes: 32 * 1024 } },
    );
    const client = received();
    const response = await fetchWithStream(url, client.callbacks);
    expect(await response.json()).toEqual({ length: 50 * total });
    expect(client.data).toHaveLength(total);
    expect(client.data.every((chunk, index) => chunk === `${index % 10}`.repeat(50))).toBe(true);
    // Each frame counts its payload (> 50) plus 64: 32 KiB hold fewer than 286 frames. Without
    // backpressure the source ran thousands of chunks ahead of the store.
    expect(mostAhead).toBeLessThanOrEqual(Math.ceil((32 * 1024) / 114) + 1);
  });

  it("a push loop awaiting stream.ready streams everything, within the bound", async () => {
    const total = 20_000;
    let mostAhead = 0;
    const { store, url } = await serve(
      async () => {
        await step.run("rows", async () => {
          for (let index = 0; index < total; index += 1) {
            stream.push({ row: index });
            mostAhead = Math.max(mostAhead, index + 1 - store.storedData);
            await stream.ready;
          }
        });
        return "done";
      },
      { limits: { maxBufferedBytes: 32 * 1024 } },
    );
    const client = received();
    const response = await fetchWithStream(url, client.callbacks);
    expect(await response.json()).toBe("done");
    expect(client.data).toEqual(Array.from({ length: total }, (_, row) => ({ row })));
    expect(mostAhead).toBeLessThanOrEqual(Math.ceil((32 * 1024) / 64) + 1);
  });

  it("a push loop that never waits fails its step with BACKPRESSURE: one rollback, not retried, and a 500 saying what to do", async () => {
    const { url } = await serve(
      async () => {
        await step.run("flood", () => {
          for (let index = 0; index < 100_000; index += 1) stream.push("p".repeat(100));
        });
        return "unreachable";
      },
      { limits: { maxBufferedBytes: 32 * 1024 }, retries: 3 },
    );
    const client = received();
    const response = await fetchWithStream(url, client.callbacks);
    expect(client.rollbacks).toHaveLength(1);
    expect(client.rollbacks[0]!.willRetry).toBe(false);
    expect(client.rollbacks[0]!.message).toMatch(/await stream\.ready after each push.*stream\.pipe/);
    expect(response.status).toBe(500);
    expect(await response.text()).toMatch(/^Step "flood" failed after 1 attempt: stream\.push in step "flood"/);
  });
});

describe("response bodies over HTTP", () => {
  it("an endless response body: the run ends failed with RESPONSE_TOO_LARGE, and the body is cancelled", async () => {
    let read = 0;
    let cancelled = false;
    const { url } = await serve(
      async () => {
        await step.run("work", () => stream.push("working"));
        return new Response(
          new ReadableStream<Uint8Array>({
            pull(controller) {
              read += 16_384;
              // A guard in case it is read whole (it would be, without the limit).
              if (read > 64 * 1024 * 1024) controller.error(new Error("read far past the limit"));
              else controller.enqueue(new Uint8Array(16_384).fill(98));
            },
            cancel() {
              cancelled = true;
            },
          }),
        );
      },
      { limits: { maxResponseBytes: 1024 * 1024 } },
    );
    const client = received();
    const response = await fetchWithStream(url, client.callbacks);
    expect(client.data).toEqual(["working"]);
    expect(response.status).toBe(500);
    expect(await response.text()).toMatch(
      /response body is larger than limits\.maxResponseBytes \(1048576 bytes\), so reading it stopped there \(the body was cancelled\).*stream\.pipe/,
    );
    expect(cancelled).toBe(true);
    expect(read).toBeLessThanOrEqual(1024 * 1024 + 4 * 16_384);
  });
});
