// Suspended executions are garbage: after runs that suspended (a long sleep, a long retry backoff,
// an event wait) and then finished, the heap after GC is back at its baseline. Measured in a child
// `node --expose-gc` (suspension-memory.fixture.ts), never by timing.
import { spawnSync } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const packageDirectory = dirname(dirname(fileURLToPath(import.meta.url)));

it("1,200 runs that suspended and finished, each holding 64 KB across the suspending await, leave the heap at its baseline", () => {
  const child = spawnSync(
    process.execPath,
    ["--expose-gc", "--conditions=@durastream/source", "--import", "tsx", "src/suspension-memory.fixture.ts", "1200", "1200"],
    { cwd: packageDirectory, encoding: "utf8", timeout: 120_000 },
  );
  expect(child.status, child.stderr).toBe(0);
  const result = JSON.parse(child.stdout.trim().split("\n").at(-1)!) as {
    runs: number;
    finished: number;
    baseline: { heapUsed: number };
    after: { heapUsed: number };
  };
  expect(result.finished).toBe(2400);
  // With one shared never-settling promise, every sleep and backoff suspension leaked its 64 KB (+60 MB
  // here); a few percent is noise (JIT, feedback).
  expect(result.after.heapUsed, JSON.stringify(result)).toBeLessThanOrEqual(result.baseline.heapUsed * 1.05);
}, 120_000);
