"use client";

import type { DurableStreamSnapshot } from "@durastream/client";
import { isActiveStatus, useDurableStream } from "@durastream/react";
import { useEffect, useRef, useState, type FormEvent } from "react";
import type { ChatMessage, ChatResponse } from "@/lib/chat";

/** The transcript is kept in sessionStorage, like the running answer (`persistKey`), so a reload keeps both. */
const TRANSCRIPT_KEY = "durastream-next-chat:transcript";

interface TranscriptEntry extends ChatMessage {
  /** For answers: the run that produced it (so it is added once), the model that wrote it, its rolled-back attempts. */
  runId?: string;
  model?: string;
  rollbacks?: string[];
}

type ChatResult = ChatResponse | { error: string };

const STATUS_TEXT = {
  idle: "Ready.",
  connecting: "Connecting…",
  streaming: "Streaming: dimmed words are not committed yet.",
  waiting: "Working in the background…",
  reconnecting: "Connection lost, reconnecting…",
  succeeded: "Done.",
  failed: "Failed.",
  aborted: "Stopped watching; the run goes on at the server.",
} as const;

export default function ChatPage() {
  const [transcript, setTranscript] = useState<TranscriptEntry[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [input, setInput] = useState("");
  const [failOnce, setFailOnce] = useState(false);
  const [rollbacks, setRollbacks] = useState<string[]>([]);
  const rollbacksOfRun = useRef<string[]>([]);

  const answer = useDurableStream<string, ChatResult>({
    url: "/api/chat",
    fetchOpts: { method: "POST", headers: { "content-type": "application/json" } },
    // The running answer's position is saved under this key: a reload resumes it (through
    // /api/durable/<runId>) instead of losing it or starting the question again.
    persistKey: "durastream-next-chat:answer",
    onRollback: ({ attempt, willRetry, error }) => {
      const reason = /[.!?]$/.test(error.message) ? error.message : `${error.message}.`;
      const note = `Attempt ${attempt} failed: ${reason} Its dimmed words were rolled back${willRetry ? "; retrying." : "."}`;
      rollbacksOfRun.current = [...rollbacksOfRun.current, note];
      setRollbacks(rollbacksOfRun.current);
    },
    onFinish: (snapshot) => addAnswer(snapshot as DurableStreamSnapshot<string, ChatResult>),
  });

  function addAnswer({ status, runId, result, committedText }: DurableStreamSnapshot<string, ChatResult>) {
    if (status !== "succeeded" || runId === null || result === null || result.status !== 200) return;
    const model = (result.body as ChatResponse).model;
    const notes = rollbacksOfRun.current;
    // The committed text is the answer, exactly once: rolled-back attempts never reach it.
    setTranscript((entries) =>
      entries.some((entry) => entry.runId === runId)
        ? entries
        : [...entries, { role: "assistant", content: committedText, runId, model, ...(notes.length > 0 && { rollbacks: notes }) }],
    );
  }

  // sessionStorage is read after mounting, so the server render and the first client render agree.
  useEffect(() => {
    try {
      const saved = JSON.parse(sessionStorage.getItem(TRANSCRIPT_KEY) ?? "[]") as TranscriptEntry[];
      setTranscript((entries) => (entries.length === 0 && Array.isArray(saved) ? saved : entries));
    } catch {
      // Nothing saved (or unreadable): start empty.
    }
    setLoaded(true);
  }, []);
  useEffect(() => {
    if (loaded) sessionStorage.setItem(TRANSCRIPT_KEY, JSON.stringify(transcript));
  }, [loaded, transcript]);

  const busy = isActiveStatus(answer.status);
  // The live answer is shown until it is in the transcript.
  const live = answer.status !== "idle" && !transcript.some((entry) => entry.runId !== undefined && entry.runId === answer.runId);
  const resultError = answer.result !== null && answer.result.status !== 200 ? errorText(answer.result.body) : null;

  function send(event: FormEvent) {
    event.preventDefault();
    const question = input.trim();
    if (question === "" || busy || !loaded) return;
    const messages: ChatMessage[] = [...transcript.map(({ role, content }) => ({ role, content })), { role: "user", content: question }];
    setTranscript((entries) => [...entries, { role: "user", content: question }]);
    setInput("");
    rollbacksOfRun.current = [];
    setRollbacks([]);
    void answer.start({ body: JSON.stringify({ messages, failOnce }) });
  }

  function newChat() {
    answer.reset();
    setTranscript([]);
    rollbacksOfRun.current = [];
    setRollbacks([]);
  }

  return (
    <main>
      <h1>Durastream chat</h1>
      <p className="intro">
        Answers stream from a durable step. Dimmed words are not committed yet; a failed attempt&apos;s words are rolled back and the retry streams them again.
        Reload the page mid-answer: it picks up where it was.
      </p>

      <ol className="transcript" data-testid="transcript">
        {transcript.map((entry, index) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: an append-only list
          <li key={index} className="message" data-role={entry.role}>
            <span className="who">{entry.role === "user" ? "You" : `Assistant${entry.model ? ` (${entry.model})` : ""}`}</span>
            {entry.content}
            {entry.rollbacks && (
              <ul className="notes">
                {entry.rollbacks.map((note, noteIndex) => (
                  // biome-ignore lint/suspicious/noArrayIndexKey: an append-only list
                  <li key={noteIndex} className="rollback">
                    {note}
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ol>

      {live && (
        <section className="message" data-role="assistant" data-testid="live-answer" aria-live="polite">
          <span className="who">Assistant</span>
          <span data-testid="committed">{answer.committedText}</span>
          <span className="uncommitted" data-testid="uncommitted">
            {answer.uncommittedText}
          </span>
          {answer.status === "connecting" && <span className="uncommitted">…</span>}
          <ul className="notes">
            {rollbacks.map((note, index) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: an append-only list
              <li key={index} className="rollback" data-testid="rollback-note">
                {note}
              </li>
            ))}
          </ul>
          {answer.error && <p role="alert">{answer.error.message}</p>}
          {resultError && <p role="alert">{resultError}</p>}
          {answer.status === "aborted" && (
            <button type="button" onClick={() => void answer.resume()}>
              Resume
            </button>
          )}
        </section>
      )}

      <form onSubmit={send}>
        <input type="text" aria-label="Message" placeholder="Ask something…" value={input} onChange={(event) => setInput(event.target.value)} />
        <button type="submit" disabled={busy || !loaded || input.trim() === ""}>
          Send
        </button>
        {busy && (
          <button type="button" onClick={() => answer.abort()}>
            Stop
          </button>
        )}
        <label>
          <input type="checkbox" checked={failOnce} onChange={(event) => setFailOnce(event.target.checked)} /> Fail once (see a rollback)
        </label>
        <button type="button" onClick={newChat} disabled={busy}>
          New chat
        </button>
      </form>
      <p className="status" data-testid="status" data-status={answer.status}>
        {resultError !== null ? "The request failed." : STATUS_TEXT[answer.status]}
      </p>
    </main>
  );
}

function errorText(body: unknown): string {
  if (typeof body === "object" && body !== null && typeof (body as { error?: unknown }).error === "string") {
    return (body as { error: string }).error;
  }
  return typeof body === "string" ? body : "The request failed.";
}
