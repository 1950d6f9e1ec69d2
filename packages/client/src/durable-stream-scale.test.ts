import { ORIGIN, commitFrame, dataFrame, durableRun, resultFrame, scriptedFetch } from "@durastream/client-testing";
import { hashStepId, type Frame } from "@durastream/protocol";
import { describe, expect, it } from "vitest";
import { createDurableStream } from "./durable-stream.js";

const CHUNKS = 100_000;
const PER_STEP = 100;

describe("createDurableStream at scale", () => {
  it(`goes through a ${CHUNKS.toLocaleString("en")}-chunk stream with a subscriber reading every snapshot`, async () => {
    const step = await hashStepId("long answer");
    const frames: Frame[] = [durableRun("01JSTORESCALE0000000000000").metadata];
    let sequence = 0;
    for (let index = 0; index < CHUNKS; index += 1) {
      frames.push(dataFrame(`1-${++sequence}`, "x", step));
      if ((index + 1) % PER_STEP === 0) frames.push(commitFrame(`1-${++sequence}`, step));
    }
    frames.push(resultFrame(`1-${++sequence}`, '"done"'));
    const scripted = scriptedFetch(frames, 500);
    const stream = createDurableStream<string>({ url: `${ORIGIN}/api/long`, fetch: scripted.fetch });
    let notifications = 0;
    let maxUncommitted = 0;
    stream.subscribe(() => {
      notifications += 1;
      const snapshot = stream.getSnapshot();
      maxUncommitted = Math.max(maxUncommitted, snapshot.uncommitted[0]?.chunks.length ?? 0);
    });

    await stream.start();

    const snapshot = stream.getSnapshot();
    expect(snapshot.status).toBe("succeeded");
    expect(snapshot.committed.length).toBe(CHUNKS);
    expect(snapshot.committedText.length).toBe(CHUNKS);
    expect(snapshot.uncommitted).toEqual([]);
    const array = snapshot.committed.toArray();
    expect(array).toHaveLength(CHUNKS);
    expect(snapshot.committed.toArray()).toBe(array);
    expect(maxUncommitted).toBe(PER_STEP);
    // One notification per frame, plus `connecting` and the final status.
    expect(notifications).toBe(frames.length + 1);
  });
});
