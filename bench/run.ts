// `pnpm bench`: runs every benchmark, prints a table and writes bench/results.md.
import { writeFile } from "node:fs/promises";
import os from "node:os";
import { measureThroughput } from "./throughput.js";

const CHUNKS = Number(process.env.BENCH_CHUNKS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? "unknown CPU"}), Node ${process.version}, ${os.platform()} ${os.arch()}`;

console.log(`Single-stream throughput: ${CHUNKS.toLocaleString("en")} chunks, median of ${ROUNDS} rounds, over loopback`);
const [raw, durable] = await measureThroughput(CHUNKS, ROUNDS);
const ratio = durable!.framesPerSecond / raw!.framesPerSecond;
const rows = [
  ["benchmark", "frames/s", "vs. raw"],
  [raw!.name, Math.round(raw!.framesPerSecond).toLocaleString("en"), "1.00"],
  [durable!.name, Math.round(durable!.framesPerSecond).toLocaleString("en"), ratio.toFixed(2)],
];
const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
for (const row of rows) console.log(row.map((cell, column) => cell.padEnd(widths[column]!)).join("  "));
console.log(`machine: ${machine}`);

const markdown = [
  "# Benchmark results",
  "",
  `Measured by \`pnpm bench\` on ${new Date().toISOString().slice(0, 10)}; machine: ${machine}.`,
  "Every figure is measured in the same run as its baseline.",
  "",
  `## Single-stream throughput (${CHUNKS.toLocaleString("en")} small chunks, median of ${ROUNDS})`,
  "",
  "| endpoint and client | frames/s | vs. raw |",
  "| --- | ---: | ---: |",
  ...rows.slice(1).map((row) => `| ${row.join(" | ")} |`),
  "",
].join("\n");
await writeFile(new URL("./results.md", import.meta.url), markdown);
console.log("wrote bench/results.md");
