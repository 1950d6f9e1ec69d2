// Identity safety: repeated step ids resolve as Inngest resolves them (no collision with a step
// literally named "id:N"), ids must be well-formed UTF-16, steps cannot be nested, and an endpoint
// id belongs to one handler.
import { createHash } from "node:crypto";
import { InvalidOptionsError, type CommitFrame, type Frame, type MetadataFrame, type RedirectFrame } from "@durastream/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { step, stream } from "./context.js";
import { createDurable, type Durable } from "./create-durable.js";
import type { DurableHandler } from "./run-types.js";
import { DurableError, isNonRetriable } from "./errors.js";
import { isWellFormed } from "./ids.js";
import { MemoryRunStore } from "./store/memory-store.js";
import { collectFrames, createManualTimers, passTime, sseRequest } from "@durastream/testing";

/** Computed independently of the package (node:crypto, not Web Crypto / hashStepId). */
const sha1 = (text: string) => createHash("sha1").update(text, "utf8").digest("hex");

const opened: Durable[] = [];
afterEach(async () => {
  for (const durable of opened.splice(0)) await durable.close();
});

function setup(handler: DurableHandler, id = "identity") {
  const timers = createManualTimers();
  const store = new MemoryRunStore();
  const durable = createDurable({ store, timers, backoff: () => 0, maxInlineWait: 1000 });
  opened.push(durable);
  return { durable, store, timers, endpoint: durable.endpoint(handler, { id }), waitEndpoint: durable.waitEndpoint() };
}

const commits = (frames: Frame[]) =>
  frames.filter((frame): frame is CommitFrame => frame.type === "commit" && frame.hashedStepId !== null).map((frame) => frame.hashedStepId);
const resultBody = (frames: Frame[]) => {
  const result = frames.at(-1);
  if (result?.type !== "result") throw new Error(`expected a result frame, got ${result?.type}`);
  return result.response.body;
};

describe("repeated step ids", () => {
  it('a step named "a:1" does not collide with the second "a": repeats skip taken indexes, like Inngest', async () => {
    const ran: string[] = [];
    const { endpoint, store } = setup(async () => {
      const outputs = [];
      for (const id of ["a:1", "a", "a", "a", "a:1", "a:2:1", "a:2"]) {
        outputs.push(
          await step.run(id, () => {
            ran.push(id);
            return `${id}#${ran.length}`;
          }),
        );
      }
      return outputs;
    });
    const frames = await collectFrames(await endpoint(sseRequest()));
    // Every step ran its own function and got its own output.
    expect(ran).toEqual(["a:1", "a", "a", "a", "a:1", "a:2:1", "a:2"]);
    expect(JSON.parse(resultBody(frames))).toEqual(["a:1#1", "a#2", "a#3", "a#4", "a:1#5", "a:2:1#6", "a:2#7"]);
    // "a:1" is taken, so the second "a" is "a:2" and the third "a:3"; the second "a:1" is "a:1:1";
    // "a:2:1" is free, so it stays as given; "a:2" is taken (by the second "a") and so is "a:2:1",
    // so it is "a:2:2".
    const expected = ["a:1", "a", "a:2", "a:3", "a:1:1", "a:2:1", "a:2:2"].map(sha1);
    expect(commits(frames)).toEqual(expected);
    expect(new Set(expected).size).toBe(expected.length);
    const runId = (frames[0] as MetadataFrame).runId;
    const journal = await store.listSteps(runId);
    expect(journal.sort((x, y) => x.position - y.position).map((entry) => [entry.stepId, entry.hashedStepId])).toEqual(
      ["a:1", "a", "a", "a", "a:1", "a:2:1", "a:2"].map((id, index) => [id, expected[index]]),
    );
  });

  it("hashes a plain program exactly as Inngest does: id, id:1, id:2, … per id", async () => {
    const { endpoint } = setup(async () => {
      for (const id of ["x", "y", "x", "x", "y"]) await step.run(id, () => id);
      return null;
    });
    const frames = await collectFrames(await endpoint(sseRequest()));
    expect(commits(frames)).toEqual(["x", "y", "x:1", "x:2", "y:1"].map(sha1));
  });

  it("resolves the same hashes on a replay after a suspension: memoized steps are not run again, later ones get their own ids", async () => {
    const ran: string[] = [];
    const { endpoint, waitEndpoint, timers } = setup(async () => {
      const first = await step.run("a:1", () => {
        ran.push("a:1");
        return "explicit";
      });
      const second = await step.run("a", () => {
        ran.push("a");
        return "a-first";
      });
      const third = await step.run("a", () => {
        ran.push("a again");
        return "a-second";
      });
      await step.sleep("a", "1h"); // a repeat of "a" too: "a:3"
      const fourth = await step.run("a", () => {
        ran.push("a after");
        return "a-third";
      });
      const fifth = await step.run("a:1", () => {
        ran.push("a:1 again");
        return "explicit-again";
      });
      return { first, second, third, fourth, fifth };
    });
    const live = await collectFrames(await endpoint(sseRequest()));
    const redirect = live.at(-1) as RedirectFrame;
    expect(redirect).toMatchObject({ type: "redirect", reason: "sleep" });
    expect(commits(live)).toEqual(["a:1", "a", "a:2"].map(sha1));
    const lastOffset = live.filter((frame): frame is CommitFrame => frame.type === "commit").at(-1)!.offset;
    const rest = waitEndpoint(new Request(redirect.url, { headers: { accept: "text/event-stream", "last-event-id": lastOffset } })).then(collectFrames);
    await passTime(timers, 3_600_000);
    const frames = await rest;
    expect(commits(frames)).toEqual(["a:4", "a:1:1"].map(sha1));
    expect(JSON.parse(resultBody(frames))).toEqual({ first: "explicit", second: "a-first", third: "a-second", fourth: "a-third", fifth: "explicit-again" });
    expect(ran).toEqual(["a:1", "a", "a again", "a after", "a:1 again"]);
  });
});

describe("ids that are not well-formed UTF-16", () => {
  it("detects lone surrogates with and without String.prototype.isWellFormed", () => {
    const samples: [string, boolean][] = [
      ["user-1", true],
      ["étape 中 😀", true],
      ["user-\uD800", false],
      ["user-\uDC00", false],
      ["\uDC00\uD800", false],
      ["user-\uD83D\uDE00", true],
      ["user-\uFFFD", true],
    ];
    const native = Object.getOwnPropertyDescriptor(String.prototype, "isWellFormed");
    for (const [text, wellFormed] of samples) expect(isWellFormed(text)).toBe(wellFormed);
    if (native === undefined) return;
    try {
      delete (String.prototype as { isWellFormed?: unknown }).isWellFormed;
      for (const [text, wellFormed] of samples) expect(isWellFormed(text), JSON.stringify(text)).toBe(wellFormed);
    } finally {
      Object.defineProperty(String.prototype, "isWellFormed", native);
    }
  });

  it("refuses a step id with a lone surrogate (it would hash like U+FFFD) with INVALID_OPTIONS, before anything is journaled", async () => {
    const caught: unknown[] = [];
    const { endpoint, store } = setup(async () => {
      for (const call of [
        () => step.run("user-\uD800", () => "never"),
        () => step.sleep("nap-\uDC00", "1s"),
        () => step.waitForEvent("wait-\uD800", { event: "e", timeout: "1h" }),
      ]) {
        await call().catch((error: unknown) => caught.push(error));
      }
      return await step.run("user-\uFFFD", () => "replacement char is fine");
    });
    const frames = await collectFrames(await endpoint(sseRequest()));
    expect(JSON.parse(resultBody(frames))).toBe("replacement char is fine");
    expect(caught).toHaveLength(3);
    for (const error of caught) {
      expect(InvalidOptionsError.isInstance(error) && error.code).toBe("INVALID_OPTIONS");
      expect((error as Error).message).toMatch(/not well-formed UTF-16 .*String\.prototype\.isWellFormed\(\)/);
    }
    expect((caught[0] as Error).message).toContain('step.run(id, …): the id "user-\\ud800"');
    const journal = await store.listSteps((frames[0] as MetadataFrame).runId);
    expect(journal.map((entry) => entry.stepId)).toEqual(["user-\uFFFD"]);
    expect(journal[0]?.position).toBe(0);
  });

  it("refuses an endpoint id with a lone surrogate", () => {
    const durable = createDurable();
    opened.push(durable);
    expect(() => durable.endpoint(() => null, { id: "chat-\uD800" })).toThrow(
      expect.objectContaining({
        code: "INVALID_OPTIONS",
        message: expect.stringMatching(/durable\.endpoint\(\{ id \}\): the id "chat-\\ud800" is not well-formed UTF-16/),
      }),
    );
  });
});

describe("nested steps", () => {
  it.each([
    ["step.run", () => step.run("inner", () => "never")],
    ["step.sleep", () => step.sleep("inner", "1h")],
    ["step.sleepUntil", () => step.sleepUntil("inner", 3_600_000)],
    ["step.waitForEvent", () => step.waitForEvent("inner", { event: "e", timeout: "1h" })],
  ] as const)("refuses %s inside another step's function with NESTED_STEP, not retried, nothing journaled for it", async (tool, nested) => {
    let attempts = 0;
    let refusal: unknown;
    const { endpoint, store } = setup(async () => {
      try {
        await step.run("outer", async () => {
          attempts += 1;
          stream.push("outer started");
          return await nested();
        });
      } catch (error) {
        refusal = error;
      }
      return await step.run("after", () => "the handler goes on");
    });
    const frames = await collectFrames(await endpoint(sseRequest()));
    expect(JSON.parse(resultBody(frames))).toBe("the handler goes on");
    expect(attempts).toBe(1);
    // The outer step fails for good (no retry) with the nested call's error as cause.
    expect(DurableError.isInstance(refusal) && refusal.code).toBe("STEP_FAILED");
    const cause = (refusal as Error).cause;
    expect(DurableError.isInstance(cause) && cause.code).toBe("NESTED_STEP");
    expect(isNonRetriable(cause)).toBe(true);
    expect((cause as Error).message).toBe(
      `${tool}("inner") was called inside the function of step "outer"; steps cannot be nested. Call step.run, step.sleep and step.waitForEvent from the handler (or from plain functions the handler awaits), not from inside another step's function; to reuse work inside a step, call a plain async function there.`,
    );
    const rollback = frames.find((frame) => frame.type === "rollback");
    expect(rollback).toMatchObject({ hashedStepId: sha1("outer"), attempt: 1, willRetry: false, error: { name: "DurableError" } });
    const journal = await store.listSteps((frames[0] as MetadataFrame).runId);
    expect(journal.sort((x, y) => x.position - y.position).map(({ stepId, position, status }) => ({ stepId, position, status }))).toEqual([
      { stepId: "outer", position: 0, status: "failed" },
      { stepId: "after", position: 1, status: "succeeded" },
    ]);
  });

  it("a handler that does not catch it fails the run with the message", async () => {
    const { endpoint } = setup(async () => {
      await step.run({ id: "outer", retries: 5 }, () => step.run({ id: "inner", retries: 1 }, () => 1));
      return "unreachable";
    });
    const frames = await collectFrames(await endpoint(sseRequest()));
    expect(frames.at(-1)).toMatchObject({ type: "result", status: "failed", response: { status: 500 } });
    expect(resultBody(frames)).toMatch(
      /Step "outer" failed after 1 attempt: step\.run\("inner"\) was called inside the function of step "outer"; steps cannot be nested/,
    );
    expect(frames.filter((frame) => frame.type === "rollback")).toHaveLength(1);
  });
});

describe("endpoint ids", () => {
  it("refuses a second handler under an id already registered, with INVALID_OPTIONS; the same handler again is fine", async () => {
    const durable = createDurable();
    opened.push(durable);
    const handler = () => "first";
    const first = durable.endpoint(handler, { id: "chat" });
    const again = durable.endpoint(handler, { id: "chat", retries: 1 });
    expect(() => durable.endpoint(() => "second", { id: "chat" })).toThrow(
      expect.objectContaining({ code: "INVALID_OPTIONS", message: expect.stringMatching(/the id "chat" is already registered with another handler/) }),
    );
    expect(resultBody(await collectFrames(await first(sseRequest())))).toBe('"first"');
    expect(resultBody(await collectFrames(await again(sseRequest())))).toBe('"first"');
    // Another id for the other handler works.
    expect(resultBody(await collectFrames(await durable.endpoint(() => "second", { id: "chat-v2" })(sseRequest())))).toBe('"second"');
  });

  it("refuses, at its first request, an endpoint without an id whose METHOD /path is another handler's id", async () => {
    const durable = createDurable();
    opened.push(durable);
    const explicit = durable.endpoint(() => "explicit", { id: "POST /api/chat" });
    const implicit = durable.endpoint(() => "implicit");
    await expect(implicit(sseRequest("http://localhost/api/chat", { method: "POST" }))).rejects.toMatchObject({
      code: "INVALID_OPTIONS",
      message: expect.stringMatching(/the id "POST \/api\/chat" is already registered with another handler/),
    });
    expect(resultBody(await collectFrames(await explicit(sseRequest("http://localhost/api/chat", { method: "POST" }))))).toBe('"explicit"');
    expect(resultBody(await collectFrames(await implicit(sseRequest("http://localhost/api/other", { method: "POST" }))))).toBe('"implicit"');
  });
});
