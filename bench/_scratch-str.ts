import { PROTOCOL_VERSION, encodeFrame, hashStepId, type Frame } from "@durastream/protocol";
import { createParser, type EventSourceMessage } from "eventsource-parser";
const step = await hashStepId("generate");
const frames: Frame[] = [{ type: "metadata", runId: "r", protocolVersion: PROTOCOL_VERSION, resumeUrl: null }];
let seq = 0;
for (let i = 0; i < 100_000; i++) frames.push({ type: "data", offset: `1-${++seq}`, hashedStepId: step, data: "tok" });
const text = frames.map((f) => encodeFrame(f)).join("");
const msgs: EventSourceMessage[] = [];
const p = createParser({ onEvent: (m) => msgs.push(m) });
for (let s = 0; s < text.length; s += 16384) p.feed(text.slice(s, s + 16384));
const prefix = `{"step":${JSON.stringify(step)},"data":`;
const KNOWN = new Set(["metadata", "data", "commit"]);
let sink: unknown; let hits = 0;
const tests: Record<string, () => void> = {
  "loop only": () => { for (const m of msgs) sink = m.data; },
  "Set.has(event)": () => { for (const m of msgs) sink = KNOWN.has(m.event ?? "message"); },
  "startsWith(prefix)": () => { for (const m of msgs) if (m.data.startsWith(prefix)) hits++; },
  "JSON.parse(data)": () => { for (const m of msgs) sink = JSON.parse(m.data); },
  "JSON.parse(slice)": () => { for (const m of msgs) sink = m.data.startsWith(prefix) ? JSON.parse(m.data.slice(prefix.length, -1)) : 0; },
  "regexp offset": () => { for (const m of msgs) sink = m.id === undefined ? 0 : /^(\d{1,15})-(\d{1,15})$/.exec(m.id); },
};
for (let r = 0; r < 3; r++) for (const [n, f] of Object.entries(tests)) { const t = performance.now(); f(); if (r === 2) console.log(n.padEnd(22), ((performance.now() - t) * 1e6 / msgs.length).toFixed(0), "ns/frame"); }
console.log("hits", hits / 3 / msgs.length);
const seqs = msgs.map((m) => JSON.parse(JSON.stringify(m.data)) as string); // fresh sequential strings
const tests2: Record<string, () => void> = {
  "seq startsWith": () => { for (const s of seqs) if (s.startsWith(prefix)) hits++; },
  "seq JSON.parse": () => { for (const s of seqs) sink = JSON.parse(s); },
  "sliced charCodeAt(0)": () => { for (const m of msgs) sink = m.data.charCodeAt(0); },
  "sliced indexOf(',')": () => { for (const m of msgs) sink = m.data.indexOf(","); },
};
for (let r = 0; r < 3; r++) for (const [n, f] of Object.entries(tests2)) { const t = performance.now(); f(); if (r === 2) console.log(n.padEnd(22), ((performance.now() - t) * 1e6 / msgs.length).toFixed(0), "ns/frame"); }
