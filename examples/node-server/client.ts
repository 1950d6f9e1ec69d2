// Asks the example server a question with `fetchWithStream` and prints what was committed and what
// was rolled back.
//
//   pnpm --filter @durastream/example-node-server client "Why are durable streams useful?"
//
// Environment: CHAT_URL (default http://localhost:3000/api/chat; add ?failures=N or ?pause=2s to it).
import { pathToFileURL } from "node:url";
import { fetchWithStream, type FetchWithStreamOptions } from "@durastream/client";

/** What one chat produced, as the client saw it. */
export interface ChatTranscript {
  runId: string | null;
  /** The committed text: final, each token exactly once. */
  committed: string;
  /** Text that was streamed and then rolled back, one entry per failed attempt. */
  rolledBack: { attempt: number; error: string; text: string }[];
  /** Where the stream was redirected (a sleep or a long retry backoff moves it to the wait endpoint). */
  redirects: { reason: string; url: string }[];
  /** The handler's final response. */
  status: number;
  body: unknown;
}

/**
 * Runs one chat against `url` (the durable endpoint) and collects committed and rolled-back text.
 * `onEvent` sees a line per event, for printing progress.
 *
 * @example
 * ```ts
 * const transcript = await chat("http://localhost:3000/api/chat", "Hello");
 * console.log(transcript.committed);
 * ```
 */
export async function chat(
  url: string,
  prompt: string,
  onEvent: (line: string) => void = () => {},
  extra: Partial<FetchWithStreamOptions> = {},
): Promise<ChatTranscript> {
  const transcript: ChatTranscript = { runId: null, committed: "", rolledBack: [], redirects: [], status: 0, body: undefined };
  /** Chunks streamed but not yet committed, per step. */
  const pending = new Map<string | null, string>();

  const response = await fetchWithStream(url, {
    ...extra,
    fetchOpts: { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt }) },
    onMetadata: ({ runId }) => {
      if (transcript.runId !== runId) onEvent(`run ${runId}`);
      transcript.runId = runId;
    },
    onData: ({ data, hashedStepId }) => {
      pending.set(hashedStepId, (pending.get(hashedStepId) ?? "") + String(data));
    },
    onCommit: ({ hashedStepId }) => {
      const text = pending.get(hashedStepId) ?? "";
      pending.delete(hashedStepId);
      transcript.committed += text;
      if (text !== "") onEvent(`commit   ${JSON.stringify(text)}`);
    },
    onRollback: ({ hashedStepId, attempt, willRetry, error }) => {
      const text = pending.get(hashedStepId) ?? "";
      pending.delete(hashedStepId);
      transcript.rolledBack.push({ attempt, error: error.message, text });
      onEvent(`rollback attempt ${attempt} (${error.message})${willRetry ? ", retrying" : ""}: discarded ${JSON.stringify(text)}`);
    },
    onRedirect: ({ reason, url: next }) => {
      transcript.redirects.push({ reason, url: next });
      onEvent(`redirect (${reason}) to ${new URL(next).pathname}: the run goes on in the background`);
    },
  });

  transcript.status = response.status;
  const text = await response.text();
  try {
    transcript.body = JSON.parse(text);
  } catch {
    transcript.body = text;
  }
  return transcript;
}

// `node client.ts [prompt]` (through tsx).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const prompt =
    process.argv
      .slice(2)
      .filter((argument) => argument !== "--")
      .join(" ") || "Why are durable streams useful?";
  const url = process.env.CHAT_URL ?? "http://localhost:3000/api/chat";
  try {
    const transcript = await chat(url, prompt, (line) => console.log(`· ${line}`));
    console.log();
    for (const { attempt, error, text } of transcript.rolledBack) console.log(`rolled back (attempt ${attempt}, ${error}):\n  ${text}`);
    console.log(`committed:\n  ${transcript.committed}`);
    console.log(`response ${transcript.status}:`, transcript.body);
  } catch (error) {
    console.error(`The chat failed: ${error instanceof Error ? error.message : String(error)} (is the server running at ${url}?)`);
    process.exitCode = 1;
  }
}
