// The durableChat crash test: the chat endpoint runs in a child process on a SQLite file and is
// killed with SIGKILL while the model call after a tool call streams; a new process on the same
// file takes the run over. The committed tool never runs again, the killed attempt's text is rolled
// back, and the client ends with the answer exactly once.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { DurableClientError, resumeStream, type FetchWithStreamOptions } from "@durastream/client";
import type { UIMessageChunk } from "ai";
import { afterEach, expect, it } from "vitest";
import { chatView, messageOf, postChat, userMessage } from "./chat-test-kit.fixture.js";
import type { CrashServerEnv } from "./durable-chat-crash-server.fixture.js";
import type { DurableChatResult } from "./durable-chat-options.js";

const packageDirectory = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const ANSWER = "I noted your visit to Paris. Enjoy the trip!";
const KILLED_DRAFT = "Unfinished draft from the killed process ";
const children: ChildProcess[] = [];
let directory: string | undefined;

afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
  directory = undefined;
});

/**
 * Starts the fixture server (with `killedDraft`, one whose answer hangs after streaming it);
 * collects its stdout lines; resolves once it listens. `until` rejects if the child exits first.
 */
async function startServer(database: string, sideEffects: string, killedDraft?: string) {
  const { KILLED_DRAFT: _inherited, ...env } = process.env;
  const serverEnv: CrashServerEnv = { ANSWER, ...(killedDraft === undefined ? {} : { KILLED_DRAFT: killedDraft }) };
  const child = spawn(
    process.execPath,
    ["--conditions=@durastream/source", "--import", "tsx", "src/chat/durable-chat-crash-server.fixture.ts", database, sideEffects],
    {
      cwd: packageDirectory,
      env: { ...env, ...serverEnv },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  children.push(child);
  const lines: string[] = [];
  const waiters: { match: string; resolve: () => void }[] = [];
  const exit = once(child, "exit").then(([code, signal]) => {
    return `the server exited (${String(code ?? signal)}) before printing the line; its output: ${JSON.stringify(lines)}`;
  });
  createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(line);
    for (const waiter of waiters.filter((candidate) => line.startsWith(candidate.match))) waiter.resolve();
  });
  const until = (match: string): Promise<void> => {
    if (lines.some((line) => line.startsWith(match))) return Promise.resolve();
    const printed = new Promise<void>((resolve) => waiters.push({ match, resolve }));
    return Promise.race([printed, exit.then((message) => Promise.reject(new Error(`waiting for "${match}": ${message}`)))]);
  };
  await until("listening ");
  const listening = lines.find((line) => line.startsWith("listening "))!;
  return { child, lines, until, exited: exit, port: Number(listening.split(" ")[1]) };
}

const workLines = (lines: readonly string[]) => lines.filter((line) => line.startsWith("model call") || line.startsWith("tool executed"));
const textOf = (chunks: readonly UIMessageChunk[]) => chunks.map((chunk) => (chunk.type === "text-delta" ? chunk.delta : "")).join("");

it("durableChat survives SIGKILL during the model call after a tool: the tool never runs again, the answer is committed once", async () => {
  directory = mkdtempSync(join(tmpdir(), "durastream-chat-crash-"));
  const database = join(directory, "runs.sqlite");
  const sideEffects = join(directory, "side-effects.txt");
  const first = await startServer(database, sideEffects, KILLED_DRAFT);

  const view = chatView();
  const rollbacks: string[] = [];
  let resumeUrl = "";
  let lastOffset: string | undefined;
  let toolCommitted!: () => void;
  let draftStreamed!: () => void;
  const toolOutputCommitted = new Promise<void>((resolve) => (toolCommitted = resolve));
  const draftReceived = new Promise<void>((resolve) => (draftStreamed = resolve));
  const callbacks: FetchWithStreamOptions = {
    reconnect: false,
    onMetadata: (metadata) => (resumeUrl = metadata.resumeUrl ?? resumeUrl),
    onData: (event) => {
      view.callbacks.onData!(event);
      lastOffset = event.offset;
      const chunk = event.data as UIMessageChunk;
      if (chunk.type === "text-delta" && chunk.delta === KILLED_DRAFT) draftStreamed();
    },
    onCommit: (event) => {
      view.callbacks.onCommit!(event);
      lastOffset = event.offset;
      if (view.committed.some((chunk) => chunk.type === "tool-output-available")) toolCommitted();
    },
    onRollback: (event) => {
      view.callbacks.onRollback!(event);
      rollbacks.push(event.error.name);
      lastOffset = event.offset;
    },
  };

  const live = postChat(`http://127.0.0.1:${first.port}/api/chat`, [userMessage("I am visiting Paris")], view, callbacks);
  // The tool's step committed, and the next model call streams (uncommitted) and hangs there.
  await Promise.all([toolOutputCommitted, draftReceived, first.until("llm:1 started")]);
  expect(readFileSync(sideEffects, "utf8")).toBe("Paris\n");
  expect(textOf(view.committed)).toBe("");
  expect(textOf([...view.pending.values()].flat())).toBe(KILLED_DRAFT);

  first.child.kill("SIGKILL");
  const failure = await live.catch((error: unknown) => error);
  expect(DurableClientError.isInstance(failure) && ["NETWORK", "STREAM_ENDED"].includes(failure.code)).toBe(true);
  await first.exited; // its lock on the SQLite file is gone

  // A new process on the same file (another port) takes the run over; the client reads it there.
  const second = await startServer(database, sideEffects);
  const url = new URL(resumeUrl);
  url.port = String(second.port);
  const response = await resumeStream(url, { ...callbacks, ...(lastOffset === undefined ? {} : { offset: lastOffset }) });
  const result = (await response.json()) as DurableChatResult;

  // The tool ran once, in the first process; the second one only called the model again.
  expect(readFileSync(sideEffects, "utf8")).toBe("Paris\n");
  expect(workLines(first.lines)).toEqual(["model call turn 0", "tool executed Paris", "model call turn 1"]);
  expect(workLines(second.lines)).toEqual(["model call turn 1"]);
  // The killed attempt was rolled back; the committed view has the answer once, without the draft.
  expect(rollbacks).toEqual(["InterruptedError"]);
  expect(view.events.filter((event) => event.startsWith("rollback"))).toEqual(["rollback #1 retry"]);
  expect(view.pending.size).toBe(0);
  expect(textOf(view.committed)).toBe(ANSWER);
  expect(view.committed.filter((chunk) => chunk.type === "tool-output-available")).toEqual([
    { type: "tool-output-available", toolCallId: "call-1", output: { recorded: "Paris" } },
  ]);
  const message = await messageOf(view.committed);
  expect(message.parts.map((part) => part.type)).toEqual(["step-start", "tool-recordVisit", "step-start", "text"]);
  expect(message.parts[3]).toMatchObject({ type: "text", text: ANSWER });
  expect(JSON.stringify(message)).not.toContain(KILLED_DRAFT);
  // The run's result.
  expect(response.status).toBe(200);
  expect(result.finishReason).toBe("stop");
  expect(result.responseMessage).toEqual(message);
  // Usage of the two committed model calls (5 + 9 output tokens); the killed attempt counts as failed.
  expect(result.usage).toMatchObject({ inputTokens: 20, outputTokens: 14 });
  expect(result.failedAttempts).toBe(1);

  second.child.kill("SIGTERM");
  await second.exited;
}, 60_000);
