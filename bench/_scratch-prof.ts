import { fetchWithStream, type FetchFunction } from "@durastream/client";
import { PROTOCOL_VERSION, encodeFrame, hashStepId, type Frame } from "@durastream/protocol";
import { createParser } from "eventsource-parser";
const mode = process.env.MODE ?? "durable";
const step = await hashStepId("generate");
const frames: Frame[] = [{ type: "metadata", runId: "r", protocolVersion: PROTOCOL_VERSION, resumeUrl: null }];
let seq = 0;
for (let i = 0; i < 100_000; i++) frames.push({ type: "data", offset: `1-${++seq}`, hashedStepId: step, data: "tok" });
frames.push({ type: "commit", offset: `1-${++seq}`, hashedStepId: step });
frames.push({ type: "result", offset: `1-${++seq}`, status: "succeeded", response: { status: 200, statusText: "", headers: [], body: "", bodyEncoding: "text" } });
const bytes = new TextEncoder().encode(frames.map((f) => encodeFrame(f)).join(""));
const parts: Uint8Array[] = [];
for (let s = 0; s < bytes.length; s += 16384) parts.push(bytes.slice(s, s + 16384));
const fetch: FetchFunction = async () => {
  let i = 0;
  return new Response(new ReadableStream<Uint8Array>({ pull(c) { const p = parts[i++]; if (p === undefined) c.close(); else c.enqueue(p); } }), { headers: { "content-type": "text/event-stream" } });
};
const t0 = performance.now();
for (let r = 0; r < 20; r++) {
  if (mode === "durable") { let n = 0; await fetchWithStream("http://x/", { fetch, reconnect: false, onData: () => n++ }); }
  else if (mode === "bare") { const p = createParser({ onEvent: () => {} }); const d = new TextDecoder(); const rd = (await fetch("http://x/")).body!.getReader(); for (;;) { const { done, value } = await rd.read(); if (done) break; p.feed(d.decode(value, { stream: true })); } }
}
console.log(mode, ((20 * 100_003) / ((performance.now() - t0) / 1000)).toFixed(0), "frames/s");
