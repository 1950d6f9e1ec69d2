// What the page sends to POST /api/run and what the agent answers: shared by the page, the worker
// and the test (no imports, so the page bundle stays free of server code).

/** The steps that stream text. */
export const STEP_NAMES = ["outline", "answer"] as const;
export type StepName = (typeof STEP_NAMES)[number];

/** Fail `step` on attempt `attempt` after it streamed `afterTokens` tokens. */
interface InjectedFailure {
  step: StepName;
  attempt: number;
  afterTokens: number;
}

/** Every knob of one run, as the page POSTs it to /api/run. */
export interface RunRequest {
  prompt: string;
  /** Delay before each mock-model token, ms. */
  tokenDelayMs: number;
  /** Retries per step (0 to 10). */
  retries: number;
  /** Delay before each retry, ms. Above `MAX_INLINE_WAIT_MS` the run is suspended: redirect with reason "retry". */
  retryDelayMs: number;
  failures: InjectedFailure[];
  /** A `step.sleep` between the steps, seconds (0: none). Any sleep suspends the run: redirect with reason "sleep". */
  sleepSeconds: number;
  /**
   * The front server cuts the connection that carries log frame number `dropAtFrame` (offset
   * `<epoch>-<dropAtFrame>`) right after it, once (0: never); the page reconnects with Last-Event-ID.
   */
  dropAtFrame: number;
  /** SIGKILL the worker process during the first attempt of `step`, after `afterTokens` tokens (null: never). */
  killWorker: { step: StepName; afterTokens: number } | null;
}

/** Waits up to this long stay on the live connection; longer waits suspend the run and redirect. */
export const MAX_INLINE_WAIT_MS = 500;

export const DEFAULT_REQUEST: RunRequest = {
  prompt: "durable streaming",
  tokenDelayMs: 40,
  retries: 3,
  retryDelayMs: 300,
  failures: [{ step: "answer", attempt: 1, afterTokens: 8 }],
  sleepSeconds: 0,
  dropAtFrame: 0,
  killWorker: null,
};

/** What the outline step's model says for a prompt. */
export function outlineText(prompt: string): string {
  const topic = normalizeTopic(prompt);
  return `Plan: (1) what ${topic} means, (2) what breaks without it, (3) how checkpointed steps fix it.`;
}

/** What the answer step's model says for a prompt. */
export function answerText(prompt: string): string {
  const topic = normalizeTopic(prompt);
  return (
    `Think of ${topic} as a run of small checkpointed steps. Each step streams its tokens at once, ` +
    "and they stay provisional until the step commits. When a step fails, its provisional tokens are " +
    "rolled back and the step runs again, so the committed text never repeats a word. When the process " +
    "dies, a new one takes the run over from the last commit."
  );
}

/** Text streamed outside any step, between the two steps (committed at the next step boundary). */
export const SEPARATOR = "\n\n";

/** The committed text a run ends with, whatever faults were injected (as long as it succeeds). */
export function expectedCommittedText(prompt: string): string {
  return outlineText(prompt) + SEPARATOR + answerText(prompt);
}

function normalizeTopic(prompt: string): string {
  const topic = prompt.trim().replace(/\s+/g, " ").slice(0, 120);
  return topic === "" ? "durable streaming" : topic;
}

/** Reads and clamps a request body; anything missing takes its default. */
export function parseRunRequest(value: unknown): RunRequest {
  const body = (typeof value === "object" && value !== null ? value : {}) as Partial<Record<keyof RunRequest, unknown>>;
  const int = (input: unknown, fallback: number, min: number, max: number) => {
    const number = typeof input === "number" && Number.isFinite(input) ? Math.round(input) : fallback;
    return Math.min(max, Math.max(min, number));
  };
  const stepName = (input: unknown): StepName | null => ((STEP_NAMES as readonly unknown[]).includes(input) ? (input as StepName) : null);
  const failures = Array.isArray(body.failures) ? body.failures : [];
  const kill = body.killWorker as { step?: unknown; afterTokens?: unknown } | null | undefined;
  const killStep = kill == null ? null : stepName(kill.step);
  return {
    prompt: typeof body.prompt === "string" ? body.prompt.slice(0, 500) : DEFAULT_REQUEST.prompt,
    tokenDelayMs: int(body.tokenDelayMs, DEFAULT_REQUEST.tokenDelayMs, 0, 2000),
    retries: int(body.retries, DEFAULT_REQUEST.retries, 0, 10),
    retryDelayMs: int(body.retryDelayMs, DEFAULT_REQUEST.retryDelayMs, 0, 60_000),
    failures: failures.flatMap((entry: { step?: unknown; attempt?: unknown; afterTokens?: unknown }) => {
      const step = stepName(entry?.step);
      return step === null ? [] : [{ step, attempt: int(entry.attempt, 1, 1, 20), afterTokens: int(entry.afterTokens, 0, 0, 10_000) }];
    }),
    sleepSeconds: int(body.sleepSeconds, 0, 0, 3600),
    dropAtFrame: int(body.dropAtFrame, 0, 0, 1_000_000),
    killWorker: killStep === null ? null : { step: killStep, afterTokens: int(kill!.afterTokens, 0, 0, 10_000) },
  };
}

/** What a successful run returns (the result frame's body). */
export interface RunResult {
  outline: string;
  answer: string;
}
