import { describe, expect, it, vi } from "vitest";
import { createDurable } from "./create-durable.js";
import { collectFrames, sseRequest } from "@durastream/testing";

describe("two copies of the package in one process", () => {
  it("share the run scope: stream and step from another copy work inside this copy's endpoint", async () => {
    vi.resetModules();
    const copyPath: string = "./context.js?copy"; // a second module instance, as a second bundle would have
    const otherCopy = (await import(/* @vite-ignore */ copyPath)) as typeof import("./context.js");
    const durable = createDurable();
    const handler = durable.endpoint(async () => {
      await otherCopy.step.run("from-the-other-copy", () => otherCopy.stream.push("still streamed"));
      return new Response("ok");
    });
    const frames = await collectFrames(await handler(sseRequest()));
    expect(frames.filter((frame) => frame.type === "data").map((frame) => (frame as { data: unknown }).data)).toEqual(["still streamed"]);
    durable.close();
  });
});
