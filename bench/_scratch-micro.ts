import { fetchWithStream, type FetchFunction } from "@durastream/client";
import { PROTOCOL_VERSION, createFrameDecoder, encodeFrame, hashStepId, parseOffset, type Frame } from "@durastream/protocol";
import { createFrameDecoder as decOffset } from "./_scratch-decode-offset.js";
import { createFrameDecoder as decData } from "./_scratch-decode-data.js";
import { createFrameDecoder as decBoth } from "./_scratch-decode-both.js";
import { createParser, type EventSourceMessage } from "eventsource-parser";
const N = 100_000;
const step = await hashStepId("generate");
const frames: Frame[] = [{ type: "metadata", runId: "r", protocolVersion: PROTOCOL_VERSION, resumeUrl: null }];
let seq = 0;
for (let i = 0; i < N; i++) frames.push({ type: "data", offset: `1-${++seq}`, hashedStepId: step, data: "tok" });
frames.push({ type: "commit", offset: `1-${++seq}`, hashedStepId: step });
frames.push({ type: "result", offset: `1-${++seq}`, status: "succeeded", response: { status: 200, statusText: "", headers: [], body: "", bodyEncoding: "text" } });
const bytes = new TextEncoder().encode(frames.map((f) => encodeFrame(f)).join(""));
const parts: Uint8Array[] = [];
for (let s = 0; s < bytes.length; s += 16384) parts.push(bytes.slice(s, s + 16384));
const fetch: FetchFunction = async () => {
  let i = 0;
  return new Response(new ReadableStream<Uint8Array>({ pull(c) { const p = parts[i++]; if (p === undefined) c.close(); else c.enqueue(p); } }), { headers: { "content-type": "text/event-stream" } });
};
let sink: unknown;
const OFF = /^(\d{1,15})-(\d{1,15})$/;
function isOffset(s: string): boolean { // hand-written validator, same language as OFF
  const dash = s.indexOf("-"); if (dash < 1 || dash > 15 || s.length - dash - 1 < 1 || s.length - dash - 1 > 15) return false;
  for (let i = 0; i < s.length; i++) { if (i === dash) continue; const c = s.charCodeAt(i); if (c < 48 || c > 57) return false; }
  return true;
}
const prefix = `{"step":${JSON.stringify(step)},"data":`;
const loop = (onEvent: (m: EventSourceMessage) => void) => async () => {
  const p = createParser({ onEvent }); const d = new TextDecoder(); const rd = (await fetch("x")).body!.getReader();
  for (;;) { const { done, value } = await rd.read(); if (done) break; p.feed(d.decode(value, { stream: true })); }
};
const variants: Record<string, () => Promise<void>> = {
  "A bare eventsource-parser loop": loop(() => {}),
  "B A + JSON.parse(data)": loop((m) => { sink = JSON.parse(m.data); }),
  "C B + parseOffset(id)": loop((m) => { sink = JSON.parse(m.data); if (m.id) parseOffset(m.id); }),
  "C' B + charcode offset check": loop((m) => { sink = JSON.parse(m.data); if (m.id && !isOffset(m.id)) throw 1; }),
  "F A + JSON.parse(data part only) + charcode offset": loop((m) => { const s = m.data; sink = s.startsWith(prefix) ? JSON.parse(s.slice(prefix.length, -1)) : JSON.parse(s); if (m.id && !isOffset(m.id)) throw 1; }),
  "D createFrameDecoder (+reader loop)": async () => {
    const dec = createFrameDecoder({ onFrame: (f) => { sink = f; } }); const rd = (await fetch("x")).body!.getReader();
    for (;;) { const { done, value } = await rd.read(); if (done) break; dec.feed(value); } dec.end();
  },
  ...Object.fromEntries(([["D1 decoder, offset check w/o regexp", decOffset], ["D2 decoder, data fast path", decData], ["D3 decoder, both fixes", decBoth]] as const).map(([n, mk]) => [n, async () => {
    const dec = mk({ onFrame: (f) => { sink = f; } }); const rd = (await fetch("x")).body!.getReader();
    for (;;) { const { done, value } = await rd.read(); if (done) break; dec.feed(value); } dec.end();
  }])),
  "E fetchWithStream": async () => { await fetchWithStream("http://x/", { fetch, reconnect: false, onData: (f) => { sink = f; } }); },
};
const pick = (process.env.ONLY ?? '').split(',').filter(Boolean); const names = Object.keys(variants).filter((n) => n.startsWith('A ') || pick.length === 0 || pick.some((q) => n.startsWith(q + ' '))); const res: Record<string, number[]> = {};
for (let r = 0; r < 9; r++) for (const n of (r % 2 ? [...names].reverse() : names)) { const t = performance.now(); await variants[n]!(); const fps = (N + 3) / ((performance.now() - t) / 1000); if (r >= 2) (res[n] ??= []).push(fps); }
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const base = med(res[names[0]!]!);
for (const n of names) console.log(n.padEnd(52), Math.round(med(res[n]!)).toLocaleString("en").padStart(11), (med(res[n]!) / base).toFixed(2));
