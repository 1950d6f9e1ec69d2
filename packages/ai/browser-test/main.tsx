// The chat page of the useChat browser test (use-chat.browser.test.ts builds it with Vite; the
// child server, chat-server.ts, serves it on the chat routes' origin). The REAL `useChat` from
// @ai-sdk/react, with `resume: true` and a stable chat id. Query parameters:
//   transport=stock   (default) the AI SDK's DefaultChatTransport, with a `fetch` that reads the
//                     run's resume URL from the `x-durastream-resume-url` response header (for Stop)
//   transport=durable createDurableChatTransport from @durastream/ai/client
//   chat=<id>         the chat id; prompt=<text> the message the Send button sends
// It keeps the messages in sessionStorage and restores them on load (as an app restores a
// conversation), renders every message part with data attributes the test reads, and records what each render
// showed in `window.__renders`.
import { useChat } from "@ai-sdk/react";
import { cancelRun, createDurableChatTransport, type DurableChatState, sendToolApproval } from "@durastream/ai/client";
import { DefaultChatTransport, type UIMessage } from "ai";
import { StrictMode, useEffect, useState, useSyncExternalStore } from "react";
import { createRoot } from "react-dom/client";

const params = new URLSearchParams(location.search);
const transportName = params.get("transport") === "durable" ? "durable" : "stock";
const chatId = params.get("chat") ?? "chat-1";
const prompt = params.get("prompt") ?? "hello";
// The page keeps the chat's messages in sessionStorage, as an app restores a conversation after a
// reload: the resumed answer must then replace the partial message it restored, not add to it.
const MESSAGES_KEY = `browser-test-messages:${chatId}`;
const restoredMessages = JSON.parse(sessionStorage.getItem(MESSAGES_KEY) ?? "[]") as UIMessage[];

/** What one render showed: the test checks that failed text came and went, and nothing doubled. */
interface RenderRecord {
  status: string;
  /** The text parts of the assistant messages, joined. */
  assistantText: string;
  /** Tool parts with an output. */
  toolOutputs: number;
  /** The durable transport's committed text (empty with the stock transport). */
  committedText: string;
  /** The durable transport's status ("idle" with the stock transport). */
  transportStatus: string;
}

declare global {
  interface Window {
    __renders: RenderRecord[];
    /** The stock transport's responses (method, path, status), as its `fetch` saw them. */
    __responses: { method: string; path: string; status: number }[];
  }
}
window.__renders = [];
window.__responses = [];

// The stock transport: useChat's default, with a fetch that keeps the run's resume URL and id.
let stockResumeUrl: string | null = null;
let stockRunId: string | null = null;
const stock = new DefaultChatTransport<UIMessage>({
  fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
    const response = await fetch(input, init);
    stockResumeUrl = response.headers.get("x-durastream-resume-url") ?? stockResumeUrl;
    stockRunId = response.headers.get("x-durastream-run-id") ?? stockRunId;
    const url = new URL(input instanceof Request ? input.url : String(input), location.href);
    window.__responses.push({ method: init?.method ?? "GET", path: url.pathname, status: response.status });
    return response;
  }) as typeof fetch,
});
// Ours. Reconnects sooner than the default backoff (250 ms doubling), to keep the crash test short.
const durable = createDurableChatTransport<UIMessage>({ api: "/api/chat", reconnect: { retries: 30, initialDelay: 100, maxDelay: 500 } });
const transport = transportName === "durable" ? durable : stock;

const IDLE: DurableChatState = durable.getState(chatId);
const subscribe = (listener: () => void): (() => void) => (transportName === "durable" ? durable.subscribe(chatId, listener) : () => {});
const getState = (): DurableChatState => (transportName === "durable" ? durable.getState(chatId) : IDLE);

function textOf(message: UIMessage): string {
  return message.parts.map((part) => (part.type === "text" ? part.text : "")).join("");
}

function Part({ part, approve }: { part: UIMessage["parts"][number]; approve: (approvalId: string) => void }) {
  if (part.type === "text") {
    return (
      <span data-part-type="text" data-state={part.state ?? ""}>
        {part.text}
      </span>
    );
  }
  if (part.type.startsWith("tool-")) {
    const tool = part as { type: string; toolCallId: string; state: string; input?: unknown; output?: unknown; approval?: { id: string } };
    return (
      <div
        className="tool"
        data-part-type={tool.type}
        data-state={tool.state}
        data-tool-call-id={tool.toolCallId}
        data-output={JSON.stringify(tool.output ?? null)}
        data-approval-id={tool.approval?.id ?? ""}
      >
        {tool.type}({JSON.stringify(tool.input ?? null)}) → {tool.state} {tool.output === undefined ? "" : JSON.stringify(tool.output)}
        {tool.state === "approval-requested" && tool.approval !== undefined ? (
          <button data-testid="approve" type="button" onClick={() => approve(tool.approval!.id)}>
            Approve
          </button>
        ) : null}
      </div>
    );
  }
  return <span data-part-type={part.type} />;
}

function Chat() {
  const { messages, sendMessage, status, stop, error, addToolApprovalResponse } = useChat({ id: chatId, transport, resume: true, messages: restoredMessages });
  const state = useSyncExternalStore(subscribe, getState);
  const [cancelled, setCancelled] = useState("");
  const [approved, setApproved] = useState("");

  // After every render that reached the DOM: what the user saw.
  useEffect(() => {
    const assistant = messages.filter((message) => message.role === "assistant");
    window.__renders.push({
      status,
      assistantText: assistant.map(textOf).join(""),
      toolOutputs: assistant
        .flatMap((message) => message.parts)
        .filter((part) => part.type.startsWith("tool-") && "output" in part && part.output !== undefined).length,
      committedText: state.committedText,
      transportStatus: state.status,
    });
  });

  useEffect(() => sessionStorage.setItem(MESSAGES_KEY, JSON.stringify(messages)), [messages]);

  // Stop for good: close the connection (the stock stop()), then cancel the run at the server.
  const stopForGood = async () => {
    await stop();
    const resumeUrl = transportName === "durable" ? durable.getState(chatId).resumeUrl : stockResumeUrl;
    setCancelled(resumeUrl === null ? "no resume URL" : String(await cancelRun(resumeUrl)));
  };

  // Approve: update the tool part at once, and deliver the decision to the waiting run.
  const approve = async (approvalId: string) => {
    await addToolApprovalResponse({ id: approvalId, approved: true });
    try {
      setApproved(JSON.stringify(await sendToolApproval("/api/chat/approve", { approvalId, approved: true })));
    } catch (failure) {
      setApproved(`failed: ${(failure as Error).message}`);
    }
  };

  return (
    <main>
      <h1>
        useChat + {transportName === "durable" ? "createDurableChatTransport" : "DefaultChatTransport"} ({chatId})
      </h1>
      <div className="controls">
        <button data-testid="send" type="button" disabled={status === "submitted" || status === "streaming"} onClick={() => void sendMessage({ text: prompt })}>
          Send “{prompt}”
        </button>
        <button data-testid="stop" type="button" onClick={() => void stopForGood()}>
          Stop
        </button>
      </div>
      <ol data-testid="messages">
        {messages.map((message) => (
          <li key={message.id} className={`bubble ${message.role}`} data-testid="message" data-role={message.role} data-id={message.id}>
            {message.parts.map((part, index) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: parts have no ids; their order is their identity
              <Part key={index} part={part} approve={(approvalId) => void approve(approvalId)} />
            ))}
          </li>
        ))}
      </ol>
      <div className="meta">
        <span>
          status: <b data-testid="status">{status}</b>
        </span>
        <span>
          transport: <span data-testid="transport-status">{state.status}</span>
        </span>
        <span>
          cancelled: <span data-testid="cancelled">{cancelled}</span>
        </span>
        <span>
          approved: <span data-testid="approved">{approved}</span>
        </span>
        <span>
          run: <span data-testid="run-id">{(transportName === "durable" ? state.runId : stockRunId) ?? ""}</span>
        </span>
      </div>
      {transportName === "durable" ? (
        <div className="bubble">
          <span data-testid="committed">{state.committedText}</span>
          <span data-testid="uncommitted" className="uncommitted">
            {state.uncommittedText}
          </span>
        </div>
      ) : null}
      {error === undefined ? null : <pre data-testid="error">{error.message}</pre>}
    </main>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Chat />
  </StrictMode>,
);
