// A chat-like page for the real-browser test of useDurableStream (hook.browser.test.ts builds it
// with Vite and serves it next to the durable endpoint, on one origin).
import { StrictMode, useEffect, useState, type FormEvent } from "react";
import { createRoot } from "react-dom/client";
import { isActiveStatus, useDurableStream } from "@durastream/react";

/** The key the hook persists the run under (hook.browser.test.ts reads it to know a commit was saved). */
const PERSIST_KEY = "browser-test-chat";

/** What the page rendered, one entry per render that reached the DOM, for the test's invariants. */
interface RenderRecord {
  status: string;
  committed: string;
  uncommitted: string;
}

declare global {
  interface Window {
    __renders: RenderRecord[];
  }
}
window.__renders = [];

interface Reply {
  text: string;
}

function Chat() {
  const [prompt, setPrompt] = useState("Tell me a story");
  const [asked, setAsked] = useState<string | null>(null);
  const chat = useDurableStream<string, Reply>({
    url: "/api/chat",
    persistKey: PERSIST_KEY,
    fetchOpts: { method: "POST", headers: { "content-type": "application/json" } },
  });

  // After every render that reached the DOM: what the user saw.
  useEffect(() => {
    window.__renders.push({ status: chat.status, committed: chat.committedText, uncommitted: chat.uncommittedText });
  });

  const busy = isActiveStatus(chat.status);
  const send = (event: FormEvent) => {
    event.preventDefault();
    setAsked(prompt);
    void chat.start({ body: JSON.stringify({ prompt }) });
  };

  return (
    <main>
      <h1>Durastream chat</h1>
      <form onSubmit={send}>
        <input data-testid="prompt" value={prompt} onChange={(event) => setPrompt(event.target.value)} />
        <button data-testid="send" type="submit" disabled={busy}>
          Send
        </button>
      </form>
      {asked !== null || chat.status !== "idle" ? <div className="bubble user">{asked ?? "(resumed after a reload)"}</div> : null}
      <div className="bubble" data-testid="answer">
        <span data-testid="committed">{chat.committedText}</span>
        <span data-testid="uncommitted" className="uncommitted">
          {chat.uncommittedText}
        </span>
      </div>
      <div className="meta">
        <span>
          status: <b data-testid="status">{chat.status}</b>
        </span>
        <span>
          run: <span data-testid="run-id">{chat.runId ?? "-"}</span>
        </span>
        <span>
          uncommitted steps: <span data-testid="uncommitted-steps">{chat.uncommitted.length}</span>
        </span>
      </div>
      {chat.result !== null ? (
        <pre data-testid="result">
          {chat.result.status} {JSON.stringify(chat.result.body)}
        </pre>
      ) : null}
      {chat.error !== null ? <pre data-testid="error">{String(chat.error.message)}</pre> : null}
    </main>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Chat />
  </StrictMode>,
);
