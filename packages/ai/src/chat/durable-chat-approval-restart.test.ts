// A durableChat run waiting for a tool approval survives its process: the chat endpoint runs in a
// child process on a SQLite file and is killed with SIGKILL while the run waits (suspended) for the
// user's decision; a new process on the same file gets the decision, resumes the run, runs the
// tool once and finishes the answer, which the client reads on from where it stopped.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { DurableClientError, resumeStream, type FetchWithStreamOptions } from "@durastream/client";
import type { UIMessageChunk } from "ai";
import { afterEach, expect, it } from "vitest";
import { sendToolApproval } from "../client/index.js";
import { chatView, messageOf, postChat, userMessage } from "./chat-test-kit.fixture.js";
import type { ApprovalServerEnv } from "./durable-chat-approval-server.fixture.js";
import type { DurableChatResult } from "./durable-chat-options.js";

const packageDirectory = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const ANSWER = "Your visit to Paris is recorded.";
const children: ChildProcess[] = [];
let directory: string | undefined;

afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  if (directory !== undefined) rmSync(directory, { recursive: true, force: true });
  directory = undefined;
});

/** Starts the fixture server; collects its stdout lines; resolves once it listens. */
async function startServer(database: string, sideEffects: string) {
  const serverEnv: ApprovalServerEnv = { ANSWER };
  const child = spawn(
    process.execPath,
    ["--conditions=@durastream/source", "--import", "tsx", "src/chat/durable-chat-approval-server.fixture.ts", database, sideEffects],
    { cwd: packageDirectory, env: { ...process.env, ...serverEnv }, stdio: ["ignore", "pipe", "inherit"] },
  );
  children.push(child);
  const lines: string[] = [];
  const exited = once(child, "exit").then(([code, signal]) => `the server exited (${String(code ?? signal)}); its output: ${JSON.stringify(lines)}`);
  const listening = new Promise<number>((resolve) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      lines.push(line);
      if (line.startsWith("listening ")) resolve(Number(line.split(" ")[1]));
    });
  });
  const port = await Promise.race([listening, exited.then((message) => Promise.reject(new Error(`waiting for "listening": ${message}`)))]);
  return { child, lines, exited, port };
}

const workLines = (lines: readonly string[]) => lines.filter((line) => line.startsWith("model call") || line.startsWith("tool executed"));

it("an approval wait survives SIGKILL: the decision goes to a new process, which runs the tool once and finishes the answer", async () => {
  directory = mkdtempSync(join(tmpdir(), "durastream-chat-approval-"));
  const database = join(directory, "runs.sqlite");
  const sideEffects = join(directory, "side-effects.txt");
  const first = await startServer(database, sideEffects);

  const view = chatView();
  let resumeUrl = "";
  let lastOffset: string | undefined;
  let approvalId: string | undefined;
  let suspended!: () => void;
  const runSuspended = new Promise<void>((resolve) => (suspended = resolve));
  const callbacks: FetchWithStreamOptions = {
    reconnect: false,
    onMetadata: (metadata) => (resumeUrl = metadata.resumeUrl ?? resumeUrl),
    onData: (event) => {
      view.callbacks.onData!(event);
      lastOffset = event.offset;
    },
    onCommit: (event) => {
      view.callbacks.onCommit!(event);
      lastOffset = event.offset;
      const request = view.committed.find((chunk) => chunk.type === "tool-approval-request");
      if (request !== undefined) approvalId = request.approvalId;
    },
    onRollback: (event) => {
      view.callbacks.onRollback!(event);
      lastOffset = event.offset;
    },
    onRedirect: ({ reason, url }) => {
      resumeUrl = url;
      if (reason === "wait-for-event") suspended();
    },
  };

  const live = postChat(`http://127.0.0.1:${first.port}/api/chat`, [userMessage("I am visiting Paris")], view, callbacks);
  // The request is committed and the run suspended on the wait: nothing runs in any process now.
  await runSuspended;
  expect(approvalId).toMatch(/^approval-/);
  expect(existsSync(sideEffects)).toBe(false);

  first.child.kill("SIGKILL");
  const failure = await live.catch((error: unknown) => error);
  expect(DurableClientError.isInstance(failure) && ["NETWORK", "STREAM_ENDED"].includes(failure.code)).toBe(true);
  await first.exited;

  // The user decides; the decision goes to a new process on the same file, which resumes the run.
  const second = await startServer(database, sideEffects);
  const origin = `http://127.0.0.1:${second.port}`;
  await expect(sendToolApproval(`${origin}/api/chat/approve`, { approvalId: approvalId!, approved: true })).resolves.toEqual({ delivered: 1 });
  const url = new URL(resumeUrl);
  url.port = String(second.port);
  const response = await resumeStream(url, { ...callbacks, ...(lastOffset === undefined ? {} : { offset: lastOffset }) });
  const result = (await response.json()) as DurableChatResult;

  expect(readFileSync(sideEffects, "utf8")).toBe("Paris\n");
  expect(workLines(first.lines)).toEqual(["model call turn 0"]);
  expect(workLines(second.lines)).toEqual(["tool executed Paris", "model call turn 1"]);
  const approvals = view.committed.filter((chunk) => chunk.type.startsWith("tool-approval") || chunk.type.startsWith("tool-output"));
  expect(approvals).toEqual<UIMessageChunk[]>([
    { type: "tool-approval-request", approvalId: approvalId!, toolCallId: "call-1" },
    { type: "tool-approval-response", approvalId: approvalId!, approved: true },
    { type: "tool-output-available", toolCallId: "call-1", output: { recorded: "Paris" } },
  ]);
  expect(view.pending.size).toBe(0);
  const message = await messageOf(view.committed);
  expect(message.parts.map((part) => part.type)).toEqual(["step-start", "tool-recordVisit", "step-start", "text"]);
  expect(message.parts[1]).toMatchObject({ state: "output-available", approval: { id: approvalId, approved: true } });
  expect(response.status).toBe(200);
  expect(result.finishReason).toBe("stop");
  expect(result.responseMessage).toEqual(message);
  // Decided: the approval is not waited for any more.
  await expect(sendToolApproval(`${origin}/api/chat/approve`, { approvalId: approvalId!, approved: false })).rejects.toMatchObject({ status: 404 });

  second.child.kill("SIGTERM");
  await second.exited;
}, 60_000);
