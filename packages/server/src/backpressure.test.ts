// Backpressure and size limits through real endpoints (in process): stream.pipe stops pulling while
// the run's unstored backlog is over limits.maxBufferedBytes, stream.ready waits for it, a push far
// past it throws BACKPRESSURE, and response bodies are bounded by limits.maxResponseBytes. The store
// holds data appends until the test releases them; nothing waits on the clock.
import { RUN_ID_HEADER, type DataFrame, type Frame, type ResultFrame } from "@durastream/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { step, stream } from "./context.js";
import { createDurable, type Durable, type DurableOptions } from "./create-durable.js";
import type { DurableHandler } from "./run-types.js";
import { DurableError } from "./errors.js";
import { MemoryRunStore } from "./store/memory-store.js";
import type { AppendEffects, FrameToAppend, NewRun, RunRecord } from "./store/run-store.js";
import { collectFrames, createManualTimers, sseRequest, until } from "@durastream/testing";

/** A memory store that holds appends of data frames while `holding`, until `release()`. */
class GatedStore extends MemoryRunStore {
  holding = true;
  /** Data frames the store has taken (appends resolved). */
  storedData = 0;
  /** Runs created, in order. */
  readonly runIds: string[] = [];
  readonly #held: (() => void)[] = [];

  override async createRun(run: NewRun): Promise<RunRecord> {
    const record = await super.createRun(run);
    this.runIds.push(record.runId);
    return record;
  }

  override appendFrames(runId: string, epoch: number, frames: readonly FrameToAppend[], effects?: AppendEffects): Promise<string> {
    const data = frames.filter((frame) => frame.type === "data").length;
    const append = () =>
      super.appendFrames(runId, epoch, frames, effects).then((offset) => {
        this.storedData += data;
        return offset;
      });
    if (!this.holding || data === 0) return append();
    return new Promise((resolve, reject) => this.#held.push(() => void append().then(resolve, reject)));
  }

  /** Appends waiting to be let through. */
  get held(): number {
    return this.#held.length;
  }

  /** Lets the held appends through (the first `count`, or all). */
  release(count = Number.POSITIVE_INFINITY): void {
    for (const next of this.#held.splice(0, count)) next();
  }
}

const opened: Durable[] = [];
afterEach(async () => {
  for (const durable of opened.splice(0)) await durable.close({ timeout: 0 });
});

function setup(handler: DurableHandler, options: DurableOptions = {}) {
  const store = new GatedStore();
  const durable = createDurable({ store, timers: createManualTimers(), backoff: () => 0, ...options });
  opened.push(durable);
  return { store, endpoint: durable.endpoint(handler, { id: "backpressure" }) };
}

/** Lets `count` turns of the event loop pass (macrotasks; no clock). */
async function turns(count: number): Promise<void> {
  for (let turn = 0; turn < count; turn += 1) await new Promise((resolve) => setImmediate(resolve));
}

const dataOf = (frames: Frame[]) => frames.filter((frame): frame is DataFrame => frame.type === "data").map((frame) => frame.data);
const resultOf = (frames: Frame[]) => frames.at(-1) as ResultFrame;

describe("stream.pipe under backpressure", () => {
  it("stops pulling while the run's unstored chunks are over maxBufferedBytes and goes on as the store catches up", async () => {
    const chunk = "x".repeat(100);
    const total = 1000;
    let pulled = 0;
    let mostAhead = 0;
    const { store, endpoint } = setup(
      async () => {
        const text = await step.run("pipe", () =>
          stream.pipe(async function* () {
            for (let index = 0; index < total; index += 1) {
              mostAhead = Math.max(mostAhead, pulled - store.storedData);
              pulled += 1;
              yield chunk;
            }
          }),
        );
        return { length: text.length };
      },
      { limits: { maxBufferedBytes: 10_000 } },
    );
    const response = endpoint(sseRequest());
    await until(() => store.held > 0, "a held append");
    await turns(100);
    // Each frame counts its payload (> 100) plus 64, so 10,000 hold fewer than 61 frames.
    const paused = pulled;
    expect(paused).toBeGreaterThan(30);
    expect(paused).toBeLessThanOrEqual(61);
    await turns(100);
    expect(pulled).toBe(paused);
    store.release(1);
    await until(() => pulled > paused, "pulling again after the store took a batch");
    // Let the store keep up from here: the pipe runs to its end.
    store.holding = false;
    store.release();
    const frames = await collectFrames(await response);
    expect(dataOf(frames)).toEqual(Array.from({ length: total }, () => chunk));
    expect(resultOf(frames)).toMatchObject({ status: "succeeded", response: { body: JSON.stringify({ length: 100 * total }) } });
    expect(mostAhead).toBeLessThanOrEqual(61);
  });
});

describe("stream.ready and stream.push", () => {
  it("stream.ready waits while the backlog is over the bound: a push loop awaiting it stays within it", async () => {
    const chunk = "y".repeat(100);
    let mostAhead = 0;
    let pushed = 0;
    const { store, endpoint } = setup(
      async () => {
        await step.run("rows", async () => {
          for (let index = 0; index < 500; index += 1) {
            stream.push(chunk);
            pushed += 1;
            mostAhead = Math.max(mostAhead, pushed - store.storedData);
            await stream.ready;
          }
        });
        return "done";
      },
      { limits: { maxBufferedBytes: 10_000 } },
    );
    const response = endpoint(sseRequest());
    await until(() => store.held > 0, "a held append");
    await turns(50);
    const waiting = pushed;
    expect(waiting).toBeLessThanOrEqual(62);
    await turns(50);
    expect(pushed).toBe(waiting);
    store.holding = false;
    store.release();
    const frames = await collectFrames(await response);
    expect(dataOf(frames)).toHaveLength(500);
    expect(resultOf(frames).status).toBe("succeeded");
    expect(mostAhead).toBeLessThanOrEqual(62);
  });

  it("a push loop that never awaits stream.ready fails its step with BACKPRESSURE (not retried), saying what to do", async () => {
    let attempts = 0;
    const { store, endpoint } = setup(
      async () => {
        await step.run("flood", () => {
          attempts += 1;
          for (let index = 0; index < 10_000; index += 1) stream.push("z".repeat(100));
        });
        return "unreachable";
      },
      { limits: { maxBufferedBytes: 10_000 }, retries: 3 },
    );
    const response = endpoint(sseRequest());
    await until(() => store.held > 0, "a held append");
    store.holding = false;
    store.release();
    const frames = await collectFrames(await response);
    expect(attempts).toBe(1);
    // Pushes went through up to 4 × the bound (each frame counts > 164), then the step failed.
    expect(dataOf(frames).length).toBeLessThanOrEqual(Math.ceil(40_000 / 164) + 1);
    expect(frames.filter((frame) => frame.type === "rollback")).toMatchObject([{ attempt: 1, willRetry: false, error: { name: "DurableError" } }]);
    const result = resultOf(frames);
    expect(result.status).toBe("failed");
    expect(result.response.body).toMatch(/stream\.push in step "flood".*4 × limits\.maxBufferedBytes \(10000\).*await stream\.ready.*stream\.pipe/);
  });

  it("outside a durable endpoint stream.ready is a resolved promise", async () => {
    await expect(stream.ready).resolves.toBeUndefined();
  });

  it("outside steps the same bound holds: the handler gets the BACKPRESSURE error and may catch it", async () => {
    const { store, endpoint } = setup(
      async () => {
        try {
          for (let index = 0; index < 10_000; index += 1) stream.push(index);
          return "unreachable";
        } catch (error) {
          return { code: DurableError.isInstance(error) ? error.code : "other" };
        }
      },
      { limits: { maxBufferedBytes: 1_000 } },
    );
    store.holding = false;
    const frames = await collectFrames(await endpoint(sseRequest()));
    expect(resultOf(frames)).toMatchObject({ status: "succeeded", response: { body: '{"code":"BACKPRESSURE"}' } });
  });
});

describe("limits validation", () => {
  it("refuses a maxBufferedBytes or maxResponseBytes that is not a number in range", () => {
    for (const limits of [{ maxBufferedBytes: 0 }, { maxBufferedBytes: Number.NaN }, { maxBufferedBytes: "8MB" }, { maxResponseBytes: -1 }]) {
      expect(() => createDurable({ limits: limits as DurableOptions["limits"] }), JSON.stringify(limits)).toThrow(
        expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringMatching(/limits\.max(Buffered|Response)Bytes" must be a number >= [01]/) }),
      );
    }
    expect(() => createDurable({ limits: { maxBufferedBytes: 1, maxResponseBytes: 0 } })).not.toThrow();
  });
});

describe("response bodies and the result frame", () => {
  it("a body past maxResponseBytes is not read further: the body is cancelled and the run fails with RESPONSE_TOO_LARGE", async () => {
    let pulled = 0;
    let cancelled = false;
    const { store, endpoint } = setup(
      async () =>
        new Response(
          new ReadableStream<Uint8Array>({
            pull(controller) {
              pulled += 1;
              // "Endless"; a guard ends it if it is read far past the limit (read whole, it would be).
              if (pulled > 1000) controller.error(new Error("read far past the limit"));
              else controller.enqueue(new Uint8Array(1000).fill(97));
            },
            cancel() {
              cancelled = true;
            },
          }),
        ),
      { limits: { maxResponseBytes: 10_000 } },
    );
    store.holding = false;
    const frames = await collectFrames(await endpoint(sseRequest()));
    const result = resultOf(frames);
    expect(result.status).toBe("failed");
    expect(result.response.status).toBe(500);
    expect(result.response.body).toMatch(
      /response body is larger than limits\.maxResponseBytes \(10000 bytes\).*stream\.pipe\(source\) inside a step and return a small response/,
    );
    await until(() => cancelled, "the body's cancel");
    expect(pulled).toBeLessThanOrEqual(13); // 11 chunks read, a few more queued by the stream
  });

  it("without the SSE header the client still gets the handler's own response; the stored result is the failure", async () => {
    const body = "n".repeat(20_000);
    const { store, endpoint } = setup(async () => new Response(body, { status: 202 }), { limits: { maxResponseBytes: 10_000 } });
    store.holding = false;
    const response = await endpoint(new Request("http://app.test/run", { method: "POST" }));
    expect(response.status).toBe(202);
    expect(await response.text()).toBe(body);
    expect(store.runIds).toHaveLength(1);
    let record: RunRecord | undefined;
    for (let turn = 0; record?.status !== "failed"; turn += 1) {
      if (turn > 1000) throw new Error(`the run did not fail: ${JSON.stringify(record)}`);
      await turns(1);
      record = await store.getRun(store.runIds[0]!);
    }
    expect(record.result).toMatchObject({ status: 500, body: expect.stringMatching(/larger than limits\.maxResponseBytes \(10000 bytes\)/) });
  });

  it("a body within maxResponseBytes is stored exactly", async () => {
    const body = "b".repeat(10_000);
    const { store, endpoint } = setup(async () => new Response(body, { status: 201 }), { limits: { maxResponseBytes: 10_000 } });
    store.holding = false;
    const frames = await collectFrames(await endpoint(sseRequest()));
    expect(resultOf(frames)).toMatchObject({ status: "succeeded", response: { status: 201, body } });
  });

  it("a result frame that would take the log past maxLogBytes ends the run with a small LOG_LIMIT failure instead", async () => {
    const { store, endpoint } = setup(
      async () => {
        await step.run("a", () => stream.push("c".repeat(500)));
        return new Response("r".repeat(2_000));
      },
      { limits: { maxLogBytes: 2_000 } },
    );
    store.holding = false;
    const response = await endpoint(sseRequest());
    const runId = response.headers.get(RUN_ID_HEADER) ?? "";
    const frames = await collectFrames(response);
    expect(dataOf(frames)).toEqual(["c".repeat(500)]);
    const result = resultOf(frames);
    expect(result.status).toBe("failed");
    expect(result.response.status).toBe(500);
    expect(result.response.body).toMatch(/its result \(a \d+-byte frame\) would take its log past limits\.maxLogBytes \(2000 bytes/);
    expect(result.response.body.length).toBeLessThan(1_000);
    expect((await store.getRun(runId))?.status).toBe("failed");
  });
});
