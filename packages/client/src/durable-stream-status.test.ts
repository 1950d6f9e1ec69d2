import { ORIGIN, controlledStream, durableRun, resultFrame, snapshotWhere, sse, type ControlledStream } from "@durastream/client-testing";
import { describe, expect, it } from "vitest";
import { isActiveStatus } from "./durable-stream-status.js";
import type { DurableStreamStatus } from "./durable-stream-types.js";
import { createDurableStream } from "./durable-stream.js";

const { metadata } = durableRun("01JSTATUS00000000000000000");

describe("isActiveStatus", () => {
  it("is true for connecting, streaming, waiting and reconnecting only", () => {
    const every: Record<DurableStreamStatus, boolean> = {
      idle: false,
      connecting: true,
      streaming: true,
      waiting: true,
      reconnecting: true,
      succeeded: false,
      failed: false,
      aborted: false,
    };
    for (const [status, active] of Object.entries(every)) expect([status, isActiveStatus(status as DurableStreamStatus)]).toEqual([status, active]);
  });

  it("is true exactly while start() starts nothing new", async () => {
    const bodies: ControlledStream[] = [];
    const stream = createDurableStream<string>({
      url: `${ORIGIN}/api/chat`,
      fetch: async () => {
        const body = controlledStream();
        bodies.push(body);
        return new Response(body.stream, { headers: { "content-type": "text/event-stream" } });
      },
    });
    const startsRequest = async (): Promise<boolean> => {
      const before = bodies.length;
      void stream.start();
      await new Promise((resolve) => setTimeout(resolve, 0));
      return bodies.length > before;
    };
    const statusNow = () => stream.getSnapshot().status;

    expect([statusNow(), isActiveStatus(statusNow())]).toEqual(["idle", false]);
    expect(await startsRequest()).toBe(true);
    expect([statusNow(), isActiveStatus(statusNow())]).toEqual(["connecting", true]);
    expect(await startsRequest()).toBe(false);

    bodies[0]!.send(sse(metadata));
    await snapshotWhere(stream, ({ status }) => status === "streaming");
    expect(isActiveStatus(statusNow())).toBe(true);
    expect(await startsRequest()).toBe(false);

    stream.abort();
    expect([statusNow(), isActiveStatus(statusNow())]).toEqual(["aborted", false]);
    expect(await startsRequest()).toBe(true);

    bodies[1]!.send(sse(metadata, resultFrame("1-1", '"done"')));
    bodies[1]!.close();
    await snapshotWhere(stream, ({ status }) => status === "succeeded");
    expect(isActiveStatus(statusNow())).toBe(false);
    expect(await startsRequest()).toBe(true);
    stream.abort();
  });
});
