import { InvalidOptionsError, hashStepId, type DataFrame, type Frame, type RollbackFrame } from "@durastream/protocol";
import { describe, expect, it } from "vitest";
import { createDurable } from "./create-durable.js";
import { acceptsEventStream } from "./event-stream.js";
import { step, stream } from "./context.js";
import { DurableError, NonRetriableError, StepFailedError } from "./errors.js";
import { MemoryRunStore } from "./store/memory-store.js";
import { collectFrames, createManualTimers, FaultyStore, sseRequest, until } from "@durastream/testing";

const noBackoff = { backoff: () => 0 } as const;

function summary(frames: Frame[]): string[] {
  return frames.map((frame) => {
    switch (frame.type) {
      case "data":
        return `data ${frame.hashedStepId === null ? "-" : frame.hashedStepId.slice(0, 6)} ${JSON.stringify(frame.data)}`;
      case "commit":
        return `commit ${frame.hashedStepId === null ? "-" : frame.hashedStepId.slice(0, 6)}`;
      case "rollback":
        return `rollback ${frame.hashedStepId === null ? "-" : frame.hashedStepId.slice(0, 6)} #${frame.attempt}${frame.willRetry ? " retry" : ""}`;
      case "result":
        return `result ${frame.status} ${frame.response.status}`;
      default:
        return frame.type;
    }
  });
}

describe("durable.endpoint over Web Request/Response", () => {
  it("streams steps in order, tags chunks with hashed step ids, commits each step, ends with the result", async () => {
    const durable = createDurable(noBackoff);
    const handler = durable.endpoint(async () => {
      stream.push("intro");
      const first = await step.run("first", () => {
        stream.push("a");
        stream.push({ token: "b" });
        return { n: 1 };
      });
      const second = await step.run("second", () =>
        stream.pipe(async function* () {
          yield "c";
          yield "d";
        }),
      );
      return Response.json({ first, second });
    });
    const response = await handler(sseRequest());
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const runId = response.headers.get("x-durastream-run-id");
    const frames = await collectFrames(response);
    const [first, second] = [await hashStepId("first"), await hashStepId("second")];
    expect(frames[0]).toMatchObject({ type: "metadata", runId, protocolVersion: 1 });
    expect((frames[0] as { resumeUrl: string }).resumeUrl).toMatch(new RegExp(`^http://localhost/api/durable/${runId}\\?token=\\d+\\.[\\w-]{43}$`));
    expect(summary(frames.slice(1))).toEqual([
      'data - "intro"',
      "commit -",
      `data ${first.slice(0, 6)} "a"`,
      `data ${first.slice(0, 6)} {"token":"b"}`,
      `commit ${first.slice(0, 6)}`,
      `data ${second.slice(0, 6)} "c"`,
      `data ${second.slice(0, 6)} "d"`,
      `commit ${second.slice(0, 6)}`,
      "result succeeded 200",
    ]);
    const offsets = frames.slice(1).map((frame) => (frame as DataFrame).offset);
    expect(offsets).toEqual(offsets.map((_, index) => `1-${index + 1}`));
    const result = frames.at(-1);
    expect(result?.type === "result" && JSON.parse(result.response.body)).toEqual({ first: { n: 1 }, second: "cd" });
  });

  it("rolls back a failing step, retries it with the configured backoff, and commits the attempt that succeeds", async () => {
    const timers = createManualTimers();
    const durable = createDurable({ timers, backoff: { initialDelay: 100, factor: 3, jitter: 0 } });
    const handler = durable.endpoint(async () => {
      const value = await step.run("flaky", ({ attempt }) => {
        stream.push(`try ${attempt}`);
        if (attempt < 3) throw new TypeError(`boom ${attempt}`);
        return attempt;
      });
      return Response.json(value);
    });
    const framesPromise = handler(sseRequest()).then(collectFrames);
    // Other timers (keep-alives, lease renewal, the scheduler) are longer than any backoff here.
    const backoffs = () => timers.scheduled.filter((milliseconds) => milliseconds < 1000);
    await until(() => backoffs().length === 1, "first backoff");
    expect(backoffs()).toEqual([100]);
    timers.advance(100);
    await until(() => backoffs().length === 2, "second backoff");
    expect(backoffs()).toEqual([100, 300]);
    timers.advance(300);
    const frames = await framesPromise;
    const hash = (await hashStepId("flaky")).slice(0, 6);
    expect(summary(frames.slice(1))).toEqual([
      `data ${hash} "try 1"`,
      `rollback ${hash} #1 retry`,
      `data ${hash} "try 2"`,
      `rollback ${hash} #2 retry`,
      `data ${hash} "try 3"`,
      `commit ${hash}`,
      "result succeeded 200",
    ]);
    const rollback = frames.find((frame): frame is RollbackFrame => frame.type === "rollback");
    expect(rollback?.error).toEqual({ name: "TypeError", message: "boom 1" });
  });

  it("throws StepFailedError into the handler when retries are exhausted, so try/catch works", async () => {
    const durable = createDurable({ ...noBackoff, retries: 1 });
    let caught: unknown;
    const handler = durable.endpoint(async () => {
      try {
        await step.run("always-fails", () => {
          throw new Error("nope");
        });
      } catch (error) {
        caught = error;
        return new Response("handled", { status: 503 });
      }
      return new Response("unreachable");
    });
    const frames = await collectFrames(await handler(sseRequest()));
    expect(summary(frames.slice(1)).map((line) => line.replace(/ [0-9a-f]{6} /, " h "))).toEqual([
      "rollback h #1 retry",
      "rollback h #2",
      "result succeeded 503",
    ]);
    expect(StepFailedError.isInstance(caught)).toBe(true);
    expect(caught).toMatchObject({ stepId: "always-fails", attempts: 2, code: "STEP_FAILED" });
    expect((caught as Error).cause).toBeInstanceOf(Error);
  });

  it("fails a NonRetriableError at once and ends an uncaught error with a failed 500 result", async () => {
    const durable = createDurable(noBackoff);
    let attempts = 0;
    const handler = durable.endpoint(async () => {
      await step.run("validate", () => {
        attempts += 1;
        throw new NonRetriableError("A prompt is required.");
      });
      return new Response("unreachable");
    });
    const frames = await collectFrames(await handler(sseRequest()));
    expect(attempts).toBe(1);
    const rollback = frames.find((frame) => frame.type === "rollback");
    expect(rollback).toMatchObject({ attempt: 1, willRetry: false, error: { name: "NonRetriableError", message: "A prompt is required." } });
    const result = frames.at(-1);
    expect(result).toMatchObject({ type: "result", status: "failed", response: { status: 500 } });
    expect(result?.type === "result" && result.response.body).toBe('Step "validate" failed after 1 attempt: A prompt is required.');
  });

  it("keeps the handler's status, headers (repeated set-cookie too) and body exactly in the result frame", async () => {
    const durable = createDurable();
    const handler = durable.endpoint(() => {
      const headers = new Headers({ "x-request-cost": "3", "content-type": "application/json" });
      headers.append("set-cookie", "a=1; Path=/");
      headers.append("set-cookie", "b=2; Path=/");
      return new Response('{"queued":true}', { status: 202, statusText: "Accepted for later", headers });
    });
    const frames = await collectFrames(await handler(sseRequest()));
    expect(frames.map((frame) => frame.type)).toEqual(["metadata", "result"]);
    expect(frames[1]).toMatchObject({
      status: "succeeded",
      response: {
        status: 202,
        statusText: "Accepted for later",
        body: '{"queued":true}',
        bodyEncoding: "text",
        headers: [
          ["content-type", "application/json"],
          ["set-cookie", "a=1; Path=/"],
          ["set-cookie", "b=2; Path=/"],
          ["x-request-cost", "3"],
        ],
      },
    });
  });

  it("turns a non-Response return value into a JSON 200 and refuses values JSON cannot carry", async () => {
    const durable = createDurable();
    const ok = durable.endpoint(() => ({ answer: 42 }));
    const okFrames = await collectFrames(await ok(sseRequest()));
    expect(okFrames.at(-1)).toMatchObject({
      status: "succeeded",
      response: { status: 200, body: '{"answer":42}', headers: [["content-type", "application/json"]] },
    });
    const bad = durable.endpoint(() => ({ big: 1n }));
    // Another handler needs another id: without one, "GET /chat" is the first endpoint's already.
    const badFrames = await collectFrames(await bad(sseRequest("http://localhost/bad")));
    expect(badFrames.at(-1)).toMatchObject({ status: "failed", response: { status: 500 } });
    expect(badFrames.at(-1)?.type === "result" && (badFrames.at(-1) as { response: { body: string } }).response.body).toContain("$.big is a BigInt");
  });

  it("answers a request without Accept: text/event-stream with the handler's own Response object", async () => {
    const durable = createDurable();
    const own = new Response("plain", { status: 201, headers: { "x-own": "1" } });
    const handler = durable.endpoint(async () => {
      await step.run("work", () => stream.push("nobody reads this live"));
      return own;
    });
    const response = await handler(new Request("http://localhost/plain", { headers: { accept: "application/json" } }));
    expect(response).toBe(own);
    expect(await response.text()).toBe("plain");
  });

  it("refuses push data JSON cannot carry with a typed, non-retried error that names the problem", async () => {
    const durable = createDurable(noBackoff);
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    const errors: unknown[] = [];
    const handler = durable.endpoint(async () => {
      for (const [id, value] of [
        ["fn", { nested: { callback: () => 1 } }],
        ["bigint", [1, 2n]],
        ["cycle", cyclic],
        ["undefined", undefined],
      ] as const) {
        await step.run(id, () => stream.push(value)).catch((error: unknown) => errors.push(error));
      }
      stream.push("the stream still works");
      return new Response("done");
    });
    const frames = await collectFrames(await handler(sseRequest()));
    const causes = errors.map((error) => (error as StepFailedError).cause as DurableError);
    expect(causes.map((cause) => cause.code)).toEqual(Array(4).fill("INVALID_STREAM_DATA"));
    expect(causes[0]?.message).toContain("$.nested.callback is a function");
    expect(causes[1]?.message).toContain("$[1] is a BigInt");
    expect(causes[2]?.message).toContain("$.self is a circular reference");
    expect(causes[3]?.message).toContain("got undefined");
    expect(frames.filter((frame) => frame.type === "rollback")).toHaveLength(4);
    expect(frames.filter((frame) => frame.type === "rollback").every((frame) => !(frame as RollbackFrame).willRetry)).toBe(true);
    expect(frames.at(-2)).toMatchObject({ type: "commit", hashedStepId: null });
    expect(frames.at(-1)).toMatchObject({ type: "result", status: "succeeded" });
  });

  it("streams parallel steps interleaved and commits or rolls back each on its own", async () => {
    const durable = createDurable(noBackoff);
    let releaseLeft!: () => void;
    const leftMayFinish = new Promise<void>((resolve) => (releaseLeft = resolve));
    const handler = durable.endpoint(async () => {
      const [left, right] = await Promise.all([
        step.run("left", async ({ attempt }) => {
          stream.push(`L${attempt}a`);
          await leftMayFinish;
          stream.push(`L${attempt}b`);
          if (attempt === 1) throw new Error("left once");
          return "left";
        }),
        step.run("right", async () => {
          stream.push("R1");
          releaseLeft();
          await Promise.resolve();
          stream.push("R2");
          return "right";
        }),
      ]);
      return Response.json([left, right]);
    });
    const frames = await collectFrames(await handler(sseRequest()));
    const [l, r] = [(await hashStepId("left")).slice(0, 6), (await hashStepId("right")).slice(0, 6)];
    const lines = summary(frames.slice(1));
    expect(lines.indexOf(`data ${r} "R1"`)).toBeLessThan(lines.indexOf(`data ${l} "L1b"`));
    expect(lines.indexOf(`data ${l} "L1a"`)).toBeLessThan(lines.indexOf(`data ${r} "R1"`));
    expect(lines.filter((line) => line.includes(l))).toEqual([
      `data ${l} "L1a"`,
      `data ${l} "L1b"`,
      `rollback ${l} #1 retry`,
      `data ${l} "L2a"`,
      `data ${l} "L2b"`,
      `commit ${l}`,
    ]);
    expect(lines.filter((line) => line.includes(r))).toEqual([`data ${r} "R1"`, `data ${r} "R2"`, `commit ${r}`]);
    expect(lines.at(-1)).toBe("result succeeded 200");
  });

  it("hashes a repeated step id as id:N and returns outputs as a JSON round trip", async () => {
    const durable = createDurable();
    const outputs: unknown[] = [];
    const handler = durable.endpoint(async () => {
      for (let index = 0; index < 3; index += 1) {
        outputs.push(await step.run("page", () => ({ index, at: new Date(0), skip: undefined })));
      }
      return new Response(null, { status: 204 });
    });
    const frames = await collectFrames(await handler(sseRequest()));
    const commits = frames.filter((frame) => frame.type === "commit").map((frame) => (frame as { hashedStepId: string }).hashedStepId);
    expect(commits).toEqual([await hashStepId("page"), await hashStepId("page", 1), await hashStepId("page", 2)]);
    expect(outputs).toEqual([0, 1, 2].map((index) => ({ index, at: "1970-01-01T00:00:00.000Z" })));
    expect(frames.at(-1)).toMatchObject({ response: { status: 204, body: "" } });
  });

  it("drops chunks a step pushes after it settled, so nothing lands after its commit or rollback", async () => {
    const durable = createDurable(noBackoff);
    let releaseLate!: () => void;
    let latePushed!: Promise<void>;
    const handler = durable.endpoint(async () => {
      await step.run("leaky", () => {
        const gate = new Promise<void>((resolve) => (releaseLate = resolve));
        // This continuation keeps the step's async context, but runs after the step returned.
        latePushed = gate.then(() => stream.push("too late"));
        stream.push("in time");
      });
      releaseLate();
      await latePushed;
      return new Response("ok");
    });
    const frames = await collectFrames(await handler(sseRequest()));
    expect(frames.filter((frame) => frame.type === "data").map((frame) => (frame as DataFrame).data)).toEqual(["in time"]);
  });

  it("sends keep-alive comments while a connection is idle", async () => {
    const timers = createManualTimers();
    const durable = createDurable({ timers, keepAliveInterval: 5000 });
    let finish!: () => void;
    const handler = durable.endpoint(async () => {
      await new Promise<void>((resolve) => (finish = resolve));
      return new Response("late");
    });
    const response = await handler(sseRequest());
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    expect((await reader.read()).value).toContain("event: metadata");
    const next = reader.read();
    await timers.untilPending();
    expect(timers.scheduled.at(-1)).toBe(5000);
    timers.advance(5000);
    expect((await next).value).toBe(": keep-alive\n\n");
    finish();
    let rest = "";
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += chunk.value;
    expect(rest).toContain("event: result");
  });

  it("with cancelOnDisconnect, cancels the run when the SSE reader goes away: pipes cancel their sources, no retries", async () => {
    const durable = createDurable(noBackoff);
    let sourceCancelled: unknown;
    let attempts = 0;
    let runFinished!: (status: string) => void;
    const finished = new Promise<string>((resolve) => (runFinished = resolve));
    const handler = durable.endpoint(
      async () => {
        try {
          await step.run("generate", () => {
            attempts += 1;
            return stream.pipe(
              new ReadableStream<string>({
                start(controller) {
                  controller.enqueue("first");
                },
                cancel(reason) {
                  sourceCancelled = reason;
                },
              }),
            );
          });
          runFinished("succeeded");
        } catch (error) {
          runFinished((error as DurableError).code);
          throw error;
        }
        return new Response("unreachable");
      },
      { cancelOnDisconnect: true },
    );
    const response = await handler(sseRequest());
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes('"first"')) seen += (await reader.read()).value;
    await reader.cancel("tab closed");
    expect(await finished).toBe("RUN_CANCELLED");
    expect(DurableError.isInstance(sourceCancelled) && sourceCancelled.code).toBe("RUN_CANCELLED");
    expect(attempts).toBe(1);
  });
});

describe("step and stream outside a durable endpoint", () => {
  it("push does nothing, pipe resolves with an empty string without reading, step.run just calls fn", async () => {
    let pulled = false;
    expect(() => stream.push(() => "not even validated")).not.toThrow();
    await expect(
      stream.pipe(
        new ReadableStream(
          {
            pull() {
              pulled = true;
            },
          },
          { highWaterMark: 0 },
        ),
      ),
    ).resolves.toBe("");
    expect(pulled).toBe(false);
    await expect(step.run("plain", ({ attempt }) => `attempt ${attempt}`)).resolves.toBe("attempt 1");
  });
});

describe("options", () => {
  it("rejects bad options with INVALID_OPTIONS errors that say what to pass", () => {
    const bad: Array<[() => unknown, RegExp]> = [
      [() => createDurable({ retries: 21 }), /"retries" must be a whole number from 0 to 20, got 21/],
      [() => createDurable({ retries: 1.5 }), /"retries" must be a whole number/],
      [() => createDurable({ backoff: { factor: 0.5 } }), /"backoff.factor" must be a number from 1 to 100/],
      [() => createDurable({ keepAliveInterval: 0 }), /"keepAliveInterval" must be a number >= 1/],
      [() => createDurable().endpoint("nope" as never), /handler must be a function/],
      [() => createDurable().endpoint(() => null, { retries: -1 }), /"retries" must be a whole number from 0 to 20, got -1/],
      [() => createDurable().endpoint(() => null, { id: "" }), /"id" must be a non-empty string/],
    ];
    for (const [make, message] of bad) {
      let thrown: unknown;
      try {
        make();
      } catch (error) {
        thrown = error;
      }
      expect(InvalidOptionsError.isInstance(thrown) && thrown.code).toBe("INVALID_OPTIONS");
      expect((thrown as Error).message).toMatch(message);
    }
  });

  it("applies per-step retries over the endpoint's", async () => {
    const durable = createDurable({ ...noBackoff, retries: 5 });
    const attempts: number[] = [];
    const handler = durable.endpoint(
      async () => {
        await step
          .run({ id: "once", retries: 0 }, ({ attempt }) => {
            attempts.push(attempt);
            throw new Error("x");
          })
          .catch(() => {});
        return new Response("ok");
      },
      { retries: 2 },
    );
    await collectFrames(await handler(sseRequest()));
    expect(attempts).toEqual([1]);
  });

  it("records the run in the store with the endpoint id METHOD /path by default", async () => {
    const store = new MemoryRunStore();
    const durable = createDurable({ store });
    const response = await durable.endpoint(() => new Response("x"))(sseRequest("http://localhost/api/chat?x=1", { method: "POST", body: "{}" }));
    await collectFrames(response);
    const run = await store.getRun(response.headers.get("x-durastream-run-id")!);
    expect(run).toMatchObject({ endpointId: "POST /api/chat", status: "succeeded", result: { status: 200, body: "x" } });
  });
});

describe("endpoint ids and the store's lifetime", () => {
  /** A store that keeps runs beyond the process, as SQLite and Redis do (it does not say `ephemeral`). */
  const lastingStore = () => {
    const memory = new MemoryRunStore();
    return new Proxy(memory, {
      get: (target, key) => {
        if (key === "ephemeral") return undefined;
        const value: unknown = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  };

  it("requires an id with a store that outlives the process, and says how to give one", () => {
    const durable = createDurable({ store: lastingStore() });
    let thrown: unknown;
    try {
      durable.endpoint(async () => "ok");
    } catch (error) {
      thrown = error;
    }
    expect(InvalidOptionsError.isInstance(thrown) && thrown.code).toBe("INVALID_OPTIONS");
    expect((thrown as Error).message).toContain('{ id: "chat" }');
    expect(() => durable.endpoint(async () => "ok", { id: "chat" })).not.toThrow();
  });

  it("lets an endpoint of the in-memory store (also behind a wrapper) go without an id", async () => {
    for (const store of [new MemoryRunStore(), new FaultyStore(new MemoryRunStore())]) {
      const endpoint = createDurable({ store }).endpoint(async () => "ok");
      expect(await (await endpoint(new Request("http://app.test/x", { method: "POST" }))).json()).toBe("ok");
    }
  });
});

describe("acceptsEventStream", () => {
  it.each([
    ["text/event-stream", true],
    ["application/json, Text/Event-Stream;q=0.5", true],
    ["text/event-stream;q=0", false],
    ["*/*", false],
    [null, false],
  ])("Accept %s → %s", (accept, expected) => {
    const headers: HeadersInit = accept === null ? {} : { accept };
    expect(acceptsEventStream(new Request("http://localhost/", { headers }))).toBe(expected);
  });
});
