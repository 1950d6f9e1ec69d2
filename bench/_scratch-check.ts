import { writeFile } from "node:fs/promises";
import { measureClientParse } from "./client-parse.js";
import { renderChart } from "./chart.js";
const frames = Number(process.env.FRAMES ?? 100_000);
const rounds = Number(process.env.ROUNDS ?? 5);
const r = await measureClientParse(frames, rounds);
console.log(JSON.stringify(r));
const svg = renderChart(
  [
    { label: "bare eventsource-parser loop (baseline)", value: r.bareFramesPerSecond, baseline: true },
    { label: "fetchWithStream (@durastream/client)", value: r.fetchWithStreamFramesPerSecond },
    { label: "A <tricky> & \"quoted\" label's test", value: r.fetchWithStreamFramesPerSecond / 2 },
    { label: "ratio", value: r.ratio },
  ],
  { title: "Client parse rate, 100,000 frames from memory (median of 5)", unit: "frames/s" },
);
await writeFile("/tmp/scratch/chart.svg", svg);
