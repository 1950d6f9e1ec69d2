// The playground page: a prompt, fault-injection controls, the answer (committed text, and each
// step's uncommitted text dimmed), the steps' attempts on a time axis, a timeline of events and a
// frame inspector. Everything comes from useDurableStream and its callbacks.
import { isActiveStatus, useDurableStream } from "@durastream/react";
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore, type FormEvent, type ReactNode } from "react";
import { DEFAULT_REQUEST, MAX_INLINE_WAIT_MS, STEP_NAMES, type RunRequest, type RunResult, type StepName } from "../run-request.js";
import { RunLog, hashStepName, seconds, type AttemptRow, type RunLogSnapshot, type StepRow } from "./run-log.js";

/** What /api/worker answers (server.ts `WorkerStatus`). */
interface WorkerStatus {
  pid: number | null;
  state: "running" | "starting";
  generation: number;
  restarts: number;
  database: string;
}

declare global {
  interface Window {
    /** Every committed text the page rendered, in order (the test checks each is a prefix of the final one). */
    __committedHistory: string[];
  }
}
window.__committedHistory = [];

/** Ready-made fault combinations. */
const PRESETS: { name: string; request: Partial<RunRequest> }[] = [
  { name: "No faults", request: { failures: [] } },
  { name: "Step failure", request: { failures: [{ step: "answer", attempt: 1, afterTokens: 8 }] } },
  {
    name: "Fails for good",
    request: {
      retries: 1,
      failures: [
        { step: "answer", attempt: 1, afterTokens: 5 },
        { step: "answer", attempt: 2, afterTokens: 12 },
      ],
    },
  },
  { name: "Sleep → redirect", request: { failures: [], sleepSeconds: 2 } },
  { name: "Slow retry → redirect", request: { failures: [{ step: "outline", attempt: 1, afterTokens: 4 }], retryDelayMs: 1500 } },
  { name: "Dropped connection", request: { failures: [], dropAtFrame: 12 } },
  { name: "Worker crash", request: { failures: [], killWorker: { step: "answer", afterTokens: 10 } } },
  {
    name: "Everything",
    request: {
      failures: [
        { step: "outline", attempt: 1, afterTokens: 4 },
        { step: "answer", attempt: 2, afterTokens: 6 },
      ],
      sleepSeconds: 1,
      dropAtFrame: 30,
      killWorker: { step: "answer", afterTokens: 10 },
    },
  },
];

const BASE_PRESET: RunRequest = { ...DEFAULT_REQUEST, failures: [], retries: 3, retryDelayMs: 300, sleepSeconds: 0, dropAtFrame: 0, killWorker: null };

export function App() {
  const [request, setRequest] = useState<RunRequest>(DEFAULT_REQUEST);
  const [asked, setAsked] = useState<string | null>(null);
  const log = useMemo(() => new RunLog(40), []);
  const runLog = useSyncExternalStore(log.subscribe, log.getSnapshot);
  const stepNames = useStepNames();
  const [worker, refreshWorker] = useWorkerStatus();

  const chat = useDurableStream<string, RunResult | { error: string }>({
    url: "/api/run",
    fetchOpts: { method: "POST", headers: { "content-type": "application/json" } },
    reconnect: { retries: 12, initialDelay: 150, maxDelay: 2_000 },
    persistKey: "durastream-playground", // a reload resumes the run
    throttleMs: 40,
    onMetadata: (metadata) => log.metadata(metadata),
    onData: (chunk) => log.data(chunk),
    onCommit: (commit) => log.commit(commit),
    onRollback: (rollback) => log.rollback(rollback),
    onRedirect: (redirect) => {
      log.redirect(redirect);
    },
    onReconnect: (attempt) => {
      log.reconnect(attempt);
      refreshWorker();
    },
    onFinish: (snapshot) => {
      log.finish(snapshot);
      refreshWorker();
    },
  });
  const busy = isActiveStatus(chat.status);

  // A worker replaced while a run is on: note it in the timeline (seen by polling /api/worker).
  const seenGeneration = useRef<number | null>(null);
  useEffect(() => {
    if (worker === null) return;
    const previous = seenGeneration.current;
    seenGeneration.current = worker.generation;
    if (previous !== null && worker.generation > previous && busy) {
      log.worker(`worker process replaced (SIGKILL, restart ${worker.restarts}); the new one takes the run over from SQLite`);
    }
  }, [worker, busy, log]);

  useEffect(() => {
    const history = window.__committedHistory;
    if (history[history.length - 1] !== chat.committedText) history.push(chat.committedText);
  }, [chat.committedText]);

  const run = (event: FormEvent) => {
    event.preventDefault();
    if (busy) return;
    chat.reset(); // a new run (also forgets a persisted one)
    window.__committedHistory = [""];
    log.reset(`POST /api/run: "${request.prompt}"`);
    setAsked(request.prompt);
    void chat.start({ body: JSON.stringify(request) });
    refreshWorker();
  };

  const killNow = async () => {
    await fetch("/api/worker/kill", { method: "POST" }).catch(() => undefined);
    refreshWorker();
  };

  const name = (step: string | null) => (step === null ? "outside steps" : (stepNames[step] ?? `step ${step.slice(0, 8)}…`));

  return (
    <div className="page">
      <header className="top">
        <div>
          <h1>Durastream playground</h1>
          <p className="subtitle">A durable endpoint streaming a two-step mock agent. Break it, and watch the committed text stay exactly right.</p>
        </div>
        <WorkerBadge worker={worker} />
      </header>

      <div className="layout">
        <form className="controls card" onSubmit={run}>
          <label className="field">
            <span>Prompt</span>
            <input data-testid="prompt" value={request.prompt} onChange={(event) => setRequest({ ...request, prompt: event.target.value })} />
          </label>
          <div className="buttons">
            <button data-testid="run" type="submit" className="primary" disabled={busy}>
              {busy ? "Running…" : "Run"}
            </button>
            <button type="button" data-testid="stop" disabled={!busy} onClick={() => chat.abort()} title="Close the connection (the run goes on at the server)">
              Disconnect
            </button>
          </div>

          <div className="presets">
            {PRESETS.map((preset) => (
              <button
                type="button"
                key={preset.name}
                className="preset"
                data-testid={`preset-${preset.name}`}
                onClick={() => setRequest({ ...BASE_PRESET, prompt: request.prompt, tokenDelayMs: request.tokenDelayMs, ...preset.request })}
              >
                {preset.name}
              </button>
            ))}
          </div>

          <Fieldset title="Model">
            <NumberField
              label="Delay per token (ms)"
              testId="token-delay"
              value={request.tokenDelayMs}
              min={0}
              max={2000}
              onChange={(tokenDelayMs) => setRequest({ ...request, tokenDelayMs })}
            />
          </Fieldset>

          <Fieldset title="Step failures" hint="The step throws after streaming that many tokens; it is rolled back and retried.">
            {request.failures.length === 0 ? (
              <p className="muted">none</p>
            ) : (
              <table className="failures">
                <thead>
                  <tr>
                    <th>step</th>
                    <th>attempt</th>
                    <th>after tokens</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {request.failures.map((failure, index) => {
                    const update = (patch: Partial<typeof failure>) =>
                      setRequest({ ...request, failures: request.failures.map((entry, position) => (position === index ? { ...entry, ...patch } : entry)) });
                    return (
                      // biome-ignore lint/suspicious/noArrayIndexKey: rows are edited in place and never reordered
                      <tr key={index}>
                        <td>
                          <StepSelect testId={`failure-step-${index}`} value={failure.step} onChange={(step) => update({ step })} />
                        </td>
                        <td>
                          <input
                            className="small"
                            type="number"
                            min={1}
                            max={20}
                            data-testid={`failure-attempt-${index}`}
                            value={failure.attempt}
                            onChange={(event) => update({ attempt: Number(event.target.value) })}
                          />
                        </td>
                        <td>
                          <input
                            className="small"
                            type="number"
                            min={0}
                            data-testid={`failure-tokens-${index}`}
                            value={failure.afterTokens}
                            onChange={(event) => update({ afterTokens: Number(event.target.value) })}
                          />
                        </td>
                        <td>
                          <button
                            type="button"
                            className="icon"
                            title="Remove"
                            data-testid={`remove-failure-${index}`}
                            onClick={() => setRequest({ ...request, failures: request.failures.filter((_, position) => position !== index) })}
                          >
                            ×
                          </button>
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            )}
            <button
              type="button"
              className="link"
              data-testid="add-failure"
              onClick={() =>
                setRequest({
                  ...request,
                  failures: [...request.failures, { step: "answer", attempt: (request.failures.at(-1)?.attempt ?? 0) + 1, afterTokens: 5 }],
                })
              }
            >
              + add a failure
            </button>
          </Fieldset>

          <Fieldset title="Retries" hint={`A retry delay over ${MAX_INLINE_WAIT_MS} ms suspends the run: redirect (retry).`}>
            <NumberField
              label="Retries per step"
              testId="retries"
              value={request.retries}
              min={0}
              max={10}
              onChange={(retries) => setRequest({ ...request, retries })}
            />
            <NumberField
              label="Retry delay (ms)"
              testId="retry-delay"
              value={request.retryDelayMs}
              min={0}
              max={60_000}
              onChange={(retryDelayMs) => setRequest({ ...request, retryDelayMs })}
            />
          </Fieldset>

          <Fieldset title="Sleep" hint="step.sleep between the steps suspends the run: redirect (sleep), then the wait endpoint streams the rest.">
            <NumberField
              label="Sleep (s), 0 = none"
              testId="sleep"
              value={request.sleepSeconds}
              min={0}
              max={3600}
              onChange={(sleepSeconds) => setRequest({ ...request, sleepSeconds })}
            />
          </Fieldset>

          <Fieldset
            title="Connection"
            hint="The server cuts the connection right after log frame #F (offset <epoch>-F), once; the page reconnects with Last-Event-ID."
          >
            <NumberField
              label="Drop after frame #, 0 = never"
              testId="drop-frame"
              value={request.dropAtFrame}
              min={0}
              max={100_000}
              onChange={(dropAtFrame) => setRequest({ ...request, dropAtFrame })}
            />
          </Fieldset>

          <Fieldset title="Worker process (SQLite store)" hint="SIGKILL the process running the run; a new one takes the run over from the SQLite file.">
            <label className="field inline">
              <span>Kill during step</span>
              <select
                data-testid="kill-step"
                value={request.killWorker?.step ?? ""}
                onChange={(event) =>
                  setRequest({
                    ...request,
                    killWorker: event.target.value === "" ? null : { step: event.target.value as StepName, afterTokens: request.killWorker?.afterTokens ?? 10 },
                  })
                }
              >
                <option value="">(never)</option>
                {STEP_NAMES.map((step) => (
                  <option key={step} value={step}>
                    {step}
                  </option>
                ))}
              </select>
            </label>
            <label className="field inline">
              <span>… after tokens (attempt 1)</span>
              <input
                className="small"
                type="number"
                min={0}
                data-testid="kill-tokens"
                disabled={request.killWorker === null}
                value={request.killWorker?.afterTokens ?? 10}
                onChange={(event) =>
                  request.killWorker && setRequest({ ...request, killWorker: { ...request.killWorker, afterTokens: Number(event.target.value) } })
                }
              />
            </label>
            <button type="button" className="danger" data-testid="kill-now" onClick={() => void killNow()}>
              Kill worker now
            </button>
          </Fieldset>
        </form>

        <main className="main">
          <section className="card">
            <div className="card-head">
              <h2>Answer</h2>
              <span className={`status status-${chat.status}`} data-testid="status">
                {chat.status}
              </span>
            </div>
            {asked !== null || chat.status !== "idle" ? <div className="asked">{asked ?? "(a run resumed after a page reload)"}</div> : null}
            <div className="answer" data-testid="answer">
              <span data-testid="committed">{chat.committedText}</span>
              {chat.uncommitted.map((step) => (
                <span className="pending" key={String(step.hashedStepId)} data-testid="pending" data-step={name(step.hashedStepId)}>
                  <span className="pending-label">{name(step.hashedStepId)} · uncommitted</span>
                  <span className="pending-text">{step.text}</span>
                </span>
              ))}
              {busy ? <span className="caret" /> : null}
              {chat.status === "idle" && chat.committedText === "" ? <span className="muted">Press Run.</span> : null}
            </div>
            <div className="legend">
              <span>
                <b className="swatch committed-swatch" /> committed (final)
              </span>
              <span>
                <b className="swatch pending-swatch" /> uncommitted (may be rolled back)
              </span>
              {runLog.timeline.length > 0 ? (
                <span data-testid="counters">
                  {runLog.redirects} redirect{runLog.redirects === 1 ? "" : "s"} · {runLog.reconnects} reconnect{runLog.reconnects === 1 ? "" : "s"}
                </span>
              ) : null}
            </div>
            {chat.result !== null ? (
              <details className={`result${chat.result.status >= 400 ? " result-bad" : ""}`} data-testid="result" open={chat.result.status >= 400}>
                <summary>
                  Final response: HTTP {chat.result.status} {chat.result.statusText} (the handler's own status, headers and body)
                </summary>
                <pre>{JSON.stringify(chat.result.body, null, 1)}</pre>
              </details>
            ) : null}
            {chat.error !== null && chat.status !== "aborted" ? (
              <pre className="result error" data-testid="error">
                {chat.error.message}
              </pre>
            ) : null}
          </section>

          <section className="card">
            <div className="card-head">
              <h2>Steps</h2>
              <span className="muted">attempts on the run's time axis</span>
            </div>
            <StepChart steps={runLog.steps} name={name} log={runLog} />
          </section>

          <section className="card">
            <div className="card-head">
              <h2>Timeline</h2>
            </div>
            <FollowingList className="timeline" testId="timeline" length={runLog.timeline.length}>
              {runLog.timeline.map((entry) => (
                <li key={entry.index} data-kind={entry.kind} className={`tone-${entry.tone}`}>
                  <span className="time">{seconds(entry.time)}</span>
                  <span className={`badge badge-${entry.kind}`}>{entry.kind}</span>
                  <span className="text">
                    {entry.step !== null ? <b>{name(entry.step)} </b> : null}
                    {entry.text}
                  </span>
                </li>
              ))}
            </FollowingList>
          </section>

          <section className="card">
            <div className="card-head">
              <h2>Frames</h2>
              <span className="muted">{runLog.frames.length} received</span>
            </div>
            <FrameTable log={runLog} name={name} />
          </section>
        </main>
      </div>
    </div>
  );
}

function Fieldset({ title, hint, children }: { title: string; hint?: string; children: ReactNode }) {
  return (
    <fieldset>
      <legend>{title}</legend>
      {children}
      {hint !== undefined ? <p className="hint">{hint}</p> : null}
    </fieldset>
  );
}

function NumberField(props: { label: string; testId: string; value: number; min: number; max: number; onChange(value: number): void }) {
  return (
    <label className="field inline">
      <span>{props.label}</span>
      <input
        type="number"
        className="small"
        data-testid={props.testId}
        min={props.min}
        max={props.max}
        value={props.value}
        onChange={(event) => props.onChange(Math.min(props.max, Math.max(props.min, Number(event.target.value) || 0)))}
      />
    </label>
  );
}

function StepSelect(props: { testId: string; value: StepName; onChange(step: StepName): void }) {
  return (
    <select data-testid={props.testId} value={props.value} onChange={(event) => props.onChange(event.target.value as StepName)}>
      {STEP_NAMES.map((step) => (
        <option key={step} value={step}>
          {step}
        </option>
      ))}
    </select>
  );
}

function WorkerBadge({ worker }: { worker: WorkerStatus | null }) {
  if (worker === null) return <div className="worker">worker: …</div>;
  return (
    <div className={`worker worker-${worker.state}`} data-testid="worker" title={worker.database}>
      <span className="dot" />
      worker {worker.pid ?? "-"} · {worker.state} · restarts <span data-testid="worker-restarts">{worker.restarts}</span>
    </div>
  );
}

/** Each step's attempts as bars on the run's time axis; redirects and reconnects as markers. */
function StepChart({ steps, name, log }: { steps: readonly StepRow[]; name: (step: string | null) => string; log: RunLogSnapshot }) {
  const end = Math.max(1, ...log.timeline.map((entry) => entry.time), ...log.frames.map((frame) => frame.time));
  const position = (time: number) => `${Math.min(100, (time / end) * 100).toFixed(2)}%`;
  const markers = log.timeline.filter((entry) => entry.kind === "redirect" || entry.kind === "reconnect");
  const shown = steps.filter((step) => step.step !== null);
  if (shown.length === 0) return <p className="muted">No step has streamed yet.</p>;
  return (
    <div className="chart" data-testid="steps">
      {shown.map((step) => (
        <div className="chart-row" key={String(step.step)} data-step={name(step.step)}>
          <span className="chart-label">{name(step.step)}</span>
          <div className="chart-track">
            {markers.map((marker) => (
              <span key={marker.index} className={`marker marker-${marker.kind}`} style={{ left: position(marker.time) }} title={marker.text} />
            ))}
            {step.attempts.map((attempt) => (
              <AttemptBar key={`${attempt.attempt}:${attempt.startedAt}`} attempt={attempt} left={position(attempt.startedAt)} end={end} />
            ))}
          </div>
        </div>
      ))}
      <div className="chart-axis">
        <span>0 s</span>
        <span className="chart-keys">
          <i className="marker-key marker-redirect" /> redirect <i className="marker-key marker-reconnect" /> reconnect
        </span>
        <span>{seconds(end)}</span>
      </div>
    </div>
  );
}

function AttemptBar({ attempt, left, end }: { attempt: AttemptRow; left: string; end: number }) {
  const stop = attempt.endedAt ?? end;
  const width = `max(${(((stop - attempt.startedAt) / end) * 100).toFixed(2)}%, 4px)`;
  const mark = attempt.outcome === "committed" ? "✓" : attempt.outcome === "rolled back" ? "✗" : "…";
  const title =
    `attempt ${attempt.attempt}: ${attempt.outcome}, ${attempt.tokens} chunks` +
    (attempt.endedAt === null ? "" : `, ${seconds(attempt.endedAt - attempt.startedAt)}`) +
    (attempt.error === null ? "" : `\n${attempt.error}`);
  return (
    <span className={`bar bar-${attempt.outcome.replace(" ", "-")}`} style={{ left, width }} title={title} data-testid="attempt" data-outcome={attempt.outcome}>
      #{attempt.attempt} {mark} {attempt.tokens}
    </span>
  );
}

/** An <ol> that keeps its newest entry in view (unless the user scrolled up). */
function FollowingList({ className, testId, length, children }: { className: string; testId: string; length: number; children: ReactNode }) {
  const list = useRef<HTMLOListElement>(null);
  const follow = useRef(true);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the length is the trigger: scroll when an entry is added
  useEffect(() => {
    const element = list.current;
    if (element !== null && follow.current) element.scrollTop = element.scrollHeight;
  }, [length]);
  return (
    <ol
      className={className}
      data-testid={testId}
      ref={list}
      onScroll={(event) => {
        const element = event.currentTarget;
        follow.current = element.scrollTop + element.clientHeight >= element.scrollHeight - 8;
      }}
    >
      {children}
    </ol>
  );
}

function FrameTable({ log, name }: { log: RunLogSnapshot; name: (step: string | null) => string }) {
  const scroller = useRef<HTMLDivElement>(null);
  const follow = useRef(true);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the frame count is the trigger: scroll when a frame is added
  useEffect(() => {
    const element = scroller.current;
    if (element !== null && follow.current) element.scrollTop = element.scrollHeight;
  }, [log.frames.length]);
  return (
    <div
      className="frames"
      ref={scroller}
      onScroll={(event) => {
        const element = event.currentTarget;
        follow.current = element.scrollTop + element.clientHeight >= element.scrollHeight - 8;
      }}
    >
      <table data-testid="frames">
        <thead>
          <tr>
            <th>#</th>
            <th>time</th>
            <th>offset</th>
            <th>frame</th>
            <th>step</th>
            <th>data</th>
          </tr>
        </thead>
        <tbody>
          {log.frames.map((frame) => (
            <tr key={frame.index} className={`frame-${frame.kind}`}>
              <td className="num">{frame.index}</td>
              <td className="num">{seconds(frame.time)}</td>
              <td className="mono">{frame.offset ?? "—"}</td>
              <td>
                <span className={`badge badge-${frame.kind}`}>{frame.kind}</span>
              </td>
              <td>{frame.kind === "data" || frame.kind === "commit" || frame.kind === "rollback" ? name(frame.step) : ""}</td>
              <td className="mono data">{frame.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** hashed step id → step name, for the steps the agent has (computed with Web Crypto, as the protocol hashes them). */
function useStepNames(): Record<string, string> {
  const [names, setNames] = useState<Record<string, string>>({});
  useEffect(() => {
    let live = true;
    void Promise.all([...STEP_NAMES, "pause"].map(async (step) => [await hashStepName(step), step] as const)).then((pairs) => {
      if (live) setNames(Object.fromEntries(pairs.filter(([hash]) => hash !== null)));
    });
    return () => {
      live = false;
    };
  }, []);
  return names;
}

/** Polls /api/worker every second; the returned function refreshes at once. */
function useWorkerStatus(): [WorkerStatus | null, () => void] {
  const [status, setStatus] = useState<WorkerStatus | null>(null);
  const refresh = useCallback(() => {
    fetch("/api/worker", { cache: "no-store" })
      .then((response) => (response.ok ? (response.json() as Promise<WorkerStatus>) : null))
      .then((next) => next !== null && setStatus(next))
      .catch(() => undefined);
  }, []);
  useEffect(() => {
    refresh();
    const timer = setInterval(refresh, 1_000);
    return () => clearInterval(timer);
  }, [refresh]);
  return [status, refresh];
}
