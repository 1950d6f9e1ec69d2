// The crash test: the server runs in a child process on a SQLite file and is killed with SIGKILL
// in the middle of a step; a new process starts on the same file; the client resumes and ends
// with exactly the committed output, once.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { DurableClientError, fetchWithStream, resumeStream, type FetchWithStreamOptions } from "@durastream/client";
import { afterEach, expect, it } from "vitest";

const packageDirectory = dirname(dirname(fileURLToPath(import.meta.url)));
const children: ChildProcess[] = [];
let directory: string | undefined;

afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
});

/** Starts the fixture server; collects its stdout lines; resolves once it listens. */
async function startServer(path: string, port: number, hang: boolean) {
  const child = spawn(process.execPath, ["--conditions=@durastream/source", "--import", "tsx", "src/crash-server.fixture.ts", path, String(port)], {
    cwd: packageDirectory,
    env: { ...process.env, HANG_IN_STEP: hang ? "1" : "0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const lines: string[] = [];
  const waiters: { match: string; resolve: () => void }[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(line);
    for (const waiter of waiters.filter((candidate) => line.startsWith(candidate.match))) waiter.resolve();
  });
  const until = (match: string) =>
    lines.some((line) => line.startsWith(match)) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ match, resolve }));
  await until("listening ");
  const listening = lines.find((line) => line.startsWith("listening "))!;
  return { child, lines, until, port: Number(listening.split(" ")[1]) };
}

it("a run survives SIGKILL mid-step: the new process rolls the step back and re-runs it, committed output exactly once", async () => {
  directory = mkdtempSync(join(tmpdir(), "durastream-crash-"));
  const path = join(directory, "runs.sqlite");
  const first = await startServer(path, 0, true);

  const committed: unknown[] = [];
  const pending = new Map<string | null, unknown[]>();
  const rollbacks: string[] = [];
  let resumeUrl = "";
  let lastOffset: string | undefined;
  let received!: () => void;
  const streamedMiddle = new Promise<void>((resolve) => (received = resolve));
  const callbacks: FetchWithStreamOptions = {
    reconnect: false,
    onMetadata: (metadata) => (resumeUrl = metadata.resumeUrl ?? resumeUrl),
    onData: ({ data, hashedStepId, offset }) => {
      pending.set(hashedStepId, [...(pending.get(hashedStepId) ?? []), data]);
      lastOffset = offset;
      if (data === "time") received();
    },
    onCommit: ({ hashedStepId, offset }) => {
      committed.push(...(pending.get(hashedStepId) ?? []));
      pending.delete(hashedStepId);
      lastOffset = offset;
    },
    onRollback: ({ hashedStepId, error, offset }) => {
      pending.delete(hashedStepId);
      rollbacks.push(error.name);
      lastOffset = offset;
    },
  };

  const live = fetchWithStream(`http://127.0.0.1:${first.port}/story`, { ...callbacks, fetchOpts: { method: "POST", body: "{}" } });
  await streamedMiddle;
  await first.until("hanging in middle");
  expect(committed).toEqual(["Once ", "upon "]);
  expect(pending.size).toBe(1); // "a ", "time": streamed, not committed

  first.child.kill("SIGKILL");
  const failure = await live.catch((error: unknown) => error);
  expect(DurableClientError.isInstance(failure) && ["NETWORK", "STREAM_ENDED"].includes(failure.code)).toBe(true);

  // A new process on the same file and port takes the run over at once, without waiting for a lease.
  const second = await startServer(path, first.port, false);
  const response = await resumeStream(resumeUrl, { ...callbacks, ...(lastOffset === undefined ? {} : { offset: lastOffset }) });

  expect(rollbacks).toEqual(["InterruptedError"]);
  expect(committed).toEqual(["Once ", "upon ", "a ", "time", ", the end."]);
  expect(pending.size).toBe(0);
  expect(response.status).toBe(201);
  expect(response.headers.get("x-story")).toBe("told");
  expect(await response.json()).toEqual({ intro: "Once upon ", middle: "a time", end: "the end" });
  // The committed step ran once, in the first process; the interrupted one ran again.
  expect(first.lines.filter((line) => line.startsWith("executing"))).toEqual(["executing intro", "executing middle attempt 1"]);
  expect(second.lines.filter((line) => line.startsWith("executing"))).toEqual(["executing middle attempt 2", "executing end"]);
  second.child.kill("SIGTERM");
  await once(second.child, "exit");
}, 60_000);
