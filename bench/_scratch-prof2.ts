import { PROTOCOL_VERSION, encodeFrame, hashStepId, type Frame } from "@durastream/protocol";
import { createFrameDecoder } from "./_scratch-decode-both.js";
const step = await hashStepId("generate");
const frames: Frame[] = [{ type: "metadata", runId: "r", protocolVersion: PROTOCOL_VERSION, resumeUrl: null }];
let seq = 0;
for (let i = 0; i < 100_000; i++) frames.push({ type: "data", offset: `1-${++seq}`, hashedStepId: step, data: "tok" });
frames.push({ type: "commit", offset: `1-${++seq}`, hashedStepId: step });
const bytes = new TextEncoder().encode(frames.map((f) => encodeFrame(f)).join(""));
const parts: Uint8Array[] = [];
for (let s = 0; s < bytes.length; s += 16384) parts.push(bytes.slice(s, s + 16384));
let sink: unknown;
const t0 = performance.now();
for (let r = 0; r < 30; r++) { const d = createFrameDecoder({ onFrame: (f) => { sink = f; } }); for (const p of parts) d.feed(p); d.end(); }
console.log(((30 * 100_002) / ((performance.now() - t0) / 1000)).toFixed(0), "frames/s", typeof sink);
