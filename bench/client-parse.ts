// Client-side parse rate: `fetchWithStream` against two bare eventsource-parser loops over the same
// pre-encoded SSE body, served from memory by a scripted `fetch` (no sockets, no server), so the
// figure is the cost of parsing and delivering frames on the client alone. One loop only counts
// events (a floor no real client reaches: it never looks at the data); the other also JSON.parses
// each event's data, the least a hand-rolled SSE client must do to use a frame.
//
// Both loops decode bytes the textbook way, with TextDecoder's stream mode; fetchWithStream's decoder
// does not use stream mode (it holds back a character cut off at a read's end itself), which on
// Node 20 saves about 50 ns per frame of this body. A bare loop could do the same: that part of
// the gap is decoding, not parsing.
import { fetchWithStream, type FetchFunction } from "@durastream/client";
import { PROTOCOL_VERSION, encodeFrame, hashStepId, type Frame } from "@durastream/protocol";
import { createParser, type EventSourceParser } from "eventsource-parser";
import { readableOf } from "./client-state.js";
import { median } from "./throughput.js";

/** Bytes per body chunk, about what one network read carries on a fast stream. */
const READ_SIZE = 16 * 1024;
/** Rounds of every reader before measuring, so all run JIT-compiled code. */
const WARM_UP_ROUNDS = 2;

export interface ClientParseResult {
  /** Median frames per second of the bare eventsource-parser loop that only counts events (no JSON). */
  readonly bareFramesPerSecond: number;
  /** Median frames per second of the bare eventsource-parser loop that JSON.parses each event's data. */
  readonly bareJsonFramesPerSecond: number;
  /** Median frames per second of `fetchWithStream`. */
  readonly fetchWithStreamFramesPerSecond: number;
  /** `fetchWithStreamFramesPerSecond / bareFramesPerSecond` (against the loop without JSON). */
  readonly ratio: number;
  /** `fetchWithStreamFramesPerSecond / bareJsonFramesPerSecond` (against the loop with JSON.parse). */
  readonly ratioJson: number;
}

/** Reads a body with a bare eventsource-parser loop (bytes decoded in stream mode), counting events. */
async function readBare(fetch: FetchFunction): Promise<number> {
  let frames = 0;
  await feedBody(fetch, createParser({ onEvent: () => (frames += 1) }));
  return frames;
}

/** Like `readBare`, but JSON.parses each event's data (counting the events whose data is not null). */
async function readBareJson(fetch: FetchFunction): Promise<number> {
  let frames = 0;
  await feedBody(
    fetch,
    createParser({
      onEvent: (event) => {
        if (JSON.parse(event.data) !== null) frames += 1;
      },
    }),
  );
  return frames;
}

/** Feeds a whole body to an eventsource-parser, bytes decoded in stream mode. */
async function feedBody(fetch: FetchFunction, parser: EventSourceParser): Promise<void> {
  const decoder = new TextDecoder();
  const response = await fetch("http://bench.local/stream", { headers: { accept: "text/event-stream" } });
  const reader = response.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
  parser.feed(decoder.decode());
}

/** Reads a body with `fetchWithStream`, counting every frame callback. */
async function readDurable(fetch: FetchFunction): Promise<number> {
  let frames = 0;
  await fetchWithStream("http://bench.local/stream", {
    fetch,
    reconnect: false,
    onMetadata: () => (frames += 1),
    onData: () => (frames += 1),
    onCommit: () => (frames += 1),
    onResult: () => (frames += 1),
  });
  return frames;
}

/**
 * Client-side parse rate: `frames` data frames (after a metadata frame, then a commit and the
 * result) read by `fetchWithStream` and by the two bare eventsource-parser loops (without and with
 * JSON.parse) from the same bytes in memory, in turn, `rounds` times each after a warm-up; medians
 * of frames per second.
 */
export async function measureClientParse(frames: number, rounds: number): Promise<ClientParseResult> {
  const body = await encodeBody(frames);
  const fetch: FetchFunction = async () => new Response(readableOf(body), { headers: { "content-type": "text/event-stream; charset=utf-8" } });
  const expected = frames + 3;
  const readers = [readBare, readBareJson, readDurable];
  const rates: number[][] = readers.map(() => []);
  for (let round = 0; round < WARM_UP_ROUNDS + rounds; round += 1) {
    // Rotate which reader goes first every round, so none always runs right after another's garbage.
    const order = readers.map((_, position) => (position + round) % readers.length);
    for (const index of order) {
      const started = performance.now();
      const read = await readers[index]!(fetch);
      const seconds = (performance.now() - started) / 1000;
      if (read !== expected) throw new Error(`client parse (${readers[index]!.name}): read ${read} frames, expected ${expected}`);
      if (round >= WARM_UP_ROUNDS) rates[index]!.push(read / seconds);
    }
  }
  const [bareFramesPerSecond, bareJsonFramesPerSecond, fetchWithStreamFramesPerSecond] = rates.map(median) as [number, number, number];
  return {
    bareFramesPerSecond,
    bareJsonFramesPerSecond,
    fetchWithStreamFramesPerSecond,
    ratio: fetchWithStreamFramesPerSecond / bareFramesPerSecond,
    ratioJson: fetchWithStreamFramesPerSecond / bareJsonFramesPerSecond,
  };
}

/** The whole stream encoded up front and cut into `READ_SIZE` chunks (anywhere, as reads are). */
async function encodeBody(count: number): Promise<Uint8Array[]> {
  const step = await hashStepId("generate");
  const frames: Frame[] = [{ type: "metadata", runId: "01JBENCHCLIENTPARSE0000000", protocolVersion: PROTOCOL_VERSION, resumeUrl: null }];
  let sequence = 0;
  for (let index = 0; index < count; index += 1) frames.push({ type: "data", offset: `1-${++sequence}`, hashedStepId: step, data: "tok" });
  frames.push({ type: "commit", offset: `1-${++sequence}`, hashedStepId: step });
  frames.push({
    type: "result",
    offset: `1-${++sequence}`,
    status: "succeeded",
    response: { status: 200, statusText: "", headers: [["content-type", "application/json"]], body: '{"ok":true}', bodyEncoding: "text" },
  });
  const bytes = new TextEncoder().encode(frames.map((frame) => encodeFrame(frame)).join(""));
  const parts: Uint8Array[] = [];
  for (let start = 0; start < bytes.length; start += READ_SIZE) parts.push(bytes.slice(start, start + READ_SIZE));
  return parts;
}
