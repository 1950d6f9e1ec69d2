import { PROTOCOL_VERSION, createFrameDecoder as orig, encodeFrame, hashStepId, type Frame } from "@durastream/protocol";
const V = process.env.V!;
const mod = await import(`./_scratch-decode-${V}.ts`);
const patched = mod.createFrameDecoder as typeof orig;
const step = await hashStepId("generate");
const frames: Frame[] = [{ type: "metadata", runId: "r", protocolVersion: PROTOCOL_VERSION, resumeUrl: null }];
let seq = 0;
for (let i = 0; i < 100_000; i++) frames.push({ type: "data", offset: `1-${++seq}`, hashedStepId: step, data: "tok" });
frames.push({ type: "commit", offset: `1-${++seq}`, hashedStepId: step });
const bytes = new TextEncoder().encode(frames.map((f) => encodeFrame(f)).join(""));
const parts: Uint8Array[] = [];
for (let s = 0; s < bytes.length; s += 16384) parts.push(bytes.slice(s, s + 16384));
let sink: unknown; let n = 0;
const run = (mk: typeof orig) => { n = 0; const d = mk({ onFrame: (f) => { sink = f; n++; } }); for (const p of parts) d.feed(p); d.end(); if (n !== frames.length) throw new Error(String(n)); };
const t: [number[], number[]] = [[], []];
for (let r = 0; r < 16; r++) for (const i of r % 2 ? [1, 0] : [0, 1]) { const s = performance.now(); run(i ? patched : orig); if (r >= 4) t[i]!.push(performance.now() - s); }
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
console.log(V.padEnd(7), "orig", (med(t[0]) * 1e6 / frames.length).toFixed(0), "ns/frame; patched", (med(t[1]) * 1e6 / frames.length).toFixed(0), "ns/frame; speed-up x" + (med(t[0]) / med(t[1])).toFixed(2), typeof sink);
