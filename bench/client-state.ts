// Client-side state throughput: how many chunks per second `createDurableStream` applies (committed
// view, snapshots, notifications), with a subscriber that reads a snapshot at every notification as a
// UI would. No server and no msw: a scripted `fetch` streams encoded frames from memory.
import { createDurableStream, type FetchFunction } from "@durastream/client";
import { PROTOCOL_VERSION, encodeFrame, hashStepId, type Frame } from "@durastream/protocol";

/** Chunks per step: each step commits after this many, like an LLM answer split in paragraphs. */
const CHUNKS_PER_STEP = 100;
/** Frames per body chunk, about what one network read carries on a fast stream. */
const FRAMES_PER_READ = 64;

/**
 * Streams `chunks` data frames (committed every 100) through a durable stream store and returns
 * the chunks applied per second, from `start()` to the run's result, with one subscriber calling
 * `getSnapshot()` on every notification.
 */
export async function measureStoreThroughput(chunks: number): Promise<{ chunksPerSecond: number }> {
  const body = encodeBody(await scriptFrames(chunks));
  const fetch: FetchFunction = async () => new Response(readableOf(body), { headers: { "content-type": "text/event-stream" } });
  const store = createDurableStream<string>({ url: "http://bench.local/api/chat", fetch, reconnect: false });
  let notifications = 0;
  let committedSeen = 0;
  store.subscribe(() => {
    notifications += 1;
    committedSeen = store.getSnapshot().committed.length;
  });

  const started = performance.now();
  await store.start();
  const seconds = (performance.now() - started) / 1000;

  const snapshot = store.getSnapshot();
  if (snapshot.status !== "succeeded" || committedSeen !== chunks || notifications < chunks) {
    throw new Error(`The store ended ${snapshot.status} with ${snapshot.committed.length} of ${chunks} chunks committed.`);
  }
  return { chunksPerSecond: chunks / seconds };
}

async function scriptFrames(chunks: number): Promise<Frame[]> {
  const step = await hashStepId("answer");
  const frames: Frame[] = [{ type: "metadata", runId: "01JBENCHCLIENTSTATE0000000", protocolVersion: PROTOCOL_VERSION, resumeUrl: null }];
  let sequence = 0;
  for (let index = 0; index < chunks; index += 1) {
    frames.push({ type: "data", offset: `1-${++sequence}`, hashedStepId: step, data: "token " });
    if ((index + 1) % CHUNKS_PER_STEP === 0 || index === chunks - 1) {
      frames.push({ type: "commit", offset: `1-${++sequence}`, hashedStepId: step });
    }
  }
  frames.push({
    type: "result",
    offset: `1-${++sequence}`,
    status: "succeeded",
    response: { status: 200, statusText: "OK", headers: [["content-type", "application/json"]], body: "null", bodyEncoding: "text" },
  });
  return frames;
}

/** The frames encoded up front, `FRAMES_PER_READ` per body chunk, so encoding is not measured. */
function encodeBody(frames: readonly Frame[]): Uint8Array[] {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (let index = 0; index < frames.length; index += FRAMES_PER_READ) {
    parts.push(
      encoder.encode(
        frames
          .slice(index, index + FRAMES_PER_READ)
          .map((frame) => encodeFrame(frame))
          .join(""),
      ),
    );
  }
  return parts;
}

/** A body stream that hands out `parts` one per read, like network reads. */
export function readableOf(parts: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let index = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const part = parts[index++];
      if (part === undefined) controller.close();
      else controller.enqueue(part);
    },
  });
}
