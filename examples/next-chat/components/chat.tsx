"use client";

import { useChat } from "@ai-sdk/react";
import { cancelRun, createDurableChatTransport, type DurableChatState } from "@durastream/ai/client";
import { isActiveStatus } from "@durastream/react";
import { DefaultChatTransport } from "ai";
import { type FormEvent, useCallback, useEffect, useState, useSyncExternalStore } from "react";
import type { ChatMessage } from "@/lib/tools";
import { MessageView } from "./message-view";

/**
 * The full-fidelity transport: one per app, since it remembers each chat's running answer (in
 * sessionStorage too, so a reload resumes it). It reads the chat route in the Durastream protocol:
 * commits and rollbacks, redirects followed by the client, dropped connections resumed.
 */
const durableTransport = createDurableChatTransport<ChatMessage>({ api: "/api/chat" });

/**
 * The AI SDK's stock transport, with a `fetch` that keeps the run's resume URL from the
 * `x-durastream-resume-url` header of `uiMessageStreamHandler`'s responses: the Stop button
 * cancels the run with it.
 */
function createStockTransport() {
  let resumeUrl: string | null = null;
  const transport = new DefaultChatTransport<ChatMessage>({
    api: "/api/chat",
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      resumeUrl = response.headers.get("x-durastream-resume-url") ?? resumeUrl;
      return response;
    },
  });
  return { transport, resumeUrl: () => resumeUrl };
}

const noSubscription = () => () => {};

const STATUS_TEXT: Record<DurableChatState["status"], string> = {
  idle: "",
  connecting: "connecting…",
  streaming: "streaming: dimmed text is not committed yet",
  waiting: "waiting in the background (a retry's backoff)…",
  reconnecting: "connection lost, reconnecting…",
  succeeded: "committed",
  failed: "failed",
  aborted: "stopped watching",
};

interface ChatProps {
  id: string;
  initialMessages: ChatMessage[];
  transport: "durable" | "stock";
  model: string;
}

export function Chat({ id, initialMessages, transport: kind, model }: ChatProps) {
  const [stock] = useState(() => (kind === "stock" ? createStockTransport() : null));
  const { messages, sendMessage, status, stop, error } = useChat<ChatMessage>({
    id,
    messages: initialMessages,
    transport: stock?.transport ?? durableTransport,
    resume: true, // on mount: pick up the chat's running answer, if any
  });

  // Committed vs. uncommitted text of the running answer (the durable transport only; idle with stock).
  const subscribe = useCallback((listener: () => void) => durableTransport.subscribe(id, listener), [id]);
  const getState = useCallback(() => durableTransport.getState(id), [id]);
  const run = useSyncExternalStore(subscribe, getState, getState);
  const rollbacks = useRollbacks(id);

  const [input, setInput] = useState("");
  const [failOnce, setFailOnce] = useState(false);
  const [stopError, setStopError] = useState<string | null>(null);
  const busy = status === "submitted" || status === "streaming";
  const hydrated = useSyncExternalStore(
    noSubscription,
    () => true,
    () => false,
  );

  const send = (event: FormEvent) => {
    event.preventDefault();
    const text = input.trim();
    if (text === "" || busy) return;
    setInput("");
    setStopError(null);
    void sendMessage({ text }, { body: { failOnce } });
  };

  // `stop()` only closes the connection (the run would go on and finish); cancelling ends the run.
  // The durable transport's cancel() also forgets the run, so a reload does not replay it.
  const stopAnswer = async () => {
    const resumeUrl = stock ? stock.resumeUrl() : null;
    await stop();
    try {
      if (stock) {
        if (resumeUrl !== null) await cancelRun(resumeUrl);
      } else {
        await durableTransport.cancel(id);
      }
    } catch (failure) {
      setStopError((failure as Error).message);
    }
  };

  // The last answer is the transport's current run (durable transport only): dim its uncommitted
  // tail while the run goes on, and list the model calls it rolled back.
  const last = messages.at(-1);
  const current = kind === "durable" && last?.role === "assistant" && run.runId !== null ? last.id : null;
  const uncommittedText = isActiveStatus(run.status) ? run.uncommittedText : "";

  return (
    <main data-chat-status={status} data-run-status={run.status} data-transport={kind} data-hydrated={hydrated}>
      <h1>Durastream chat</h1>
      <p className="intro">
        <code>useChat</code> + <code>durableChat</code>: ask about the weather somewhere. The tool runs once, a failed model call is rolled back and retried,
        and a reload mid-answer resumes it. Model: {model}.
      </p>
      <nav className="options">
        Transport: {kind === "durable" ? <strong>full fidelity</strong> : <a href={`/?chat=${id}`}>full fidelity</a>} ·{" "}
        {kind === "stock" ? <strong>stock</strong> : <a href={`/?chat=${id}&transport=stock`}>stock</a>} ·{" "}
        <a href={kind === "stock" ? "/?transport=stock" : "/"}>New chat</a>
      </nav>

      <ol className="transcript" data-testid="messages">
        {messages.map((message) => (
          <MessageView
            key={message.id}
            message={message}
            uncommittedText={message.id === current ? uncommittedText : ""}
            rollbacks={message.id === current ? (rollbacks.get(run.runId ?? "") ?? []) : []}
          />
        ))}
      </ol>

      {error && (
        <p role="alert" className="error" data-testid="error">
          {error.message}
        </p>
      )}
      {stopError && (
        <p role="alert" className="error" data-testid="error">
          {stopError}
        </p>
      )}

      <form onSubmit={send}>
        <input type="text" aria-label="Message" placeholder="What is the weather in Lisbon?" value={input} onChange={(event) => setInput(event.target.value)} />
        <label title="The first model call that streams text breaks off after a few words">
          <input type="checkbox" checked={failOnce} onChange={(event) => setFailOnce(event.target.checked)} /> Fail once
        </label>
        <button type="submit" disabled={busy || input.trim() === ""}>
          Send
        </button>
        <button type="button" onClick={() => void stopAnswer()} disabled={!busy}>
          Stop
        </button>
      </form>
      <p className="status" data-testid="status">
        Chat: {status}
        {kind === "durable" ? (run.status === "idle" ? "" : ` · run: ${STATUS_TEXT[run.status]}`) : " · stock transport: commits are not shown"}
      </p>
    </main>
  );
}

/**
 * The text each rolled-back model call had streamed, by run id: the uncommitted text shrank while
 * nothing was committed. (The durable transport tells commits from rollbacks; the stock one only
 * sees `reset-step`.)
 */
function useRollbacks(id: string): ReadonlyMap<string, string[]> {
  const [rollbacks, setRollbacks] = useState<ReadonlyMap<string, string[]>>(new Map());
  useEffect(() => {
    let previous = durableTransport.getState(id);
    return durableTransport.subscribe(id, () => {
      const next = durableTransport.getState(id);
      const rolledBack =
        next.runId !== null &&
        next.runId === previous.runId &&
        next.committedText === previous.committedText &&
        next.uncommittedText.length < previous.uncommittedText.length;
      if (rolledBack) {
        const runId = next.runId!;
        const text = previous.uncommittedText;
        setRollbacks((current) => new Map(current).set(runId, [...(current.get(runId) ?? []), text]));
      }
      previous = next;
    });
  }, [id]);
  return rollbacks;
}
