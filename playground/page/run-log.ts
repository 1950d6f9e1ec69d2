// What the page knows about one run besides the committed view: every frame the callbacks saw (the
// frame inspector), each step's attempts (the step table) and the notable events (the timeline).
// Fed by useDurableStream's callbacks; render code reads immutable snapshots of it.
import type { DurableStreamSnapshot, ReconnectAttempt, StepCommit, StepRollback, StreamChunk, StreamMetadata, StreamRedirect } from "@durastream/client";

export type FrameKind = "metadata" | "data" | "commit" | "rollback" | "redirect" | "reconnect" | "result";

/** One row of the frame inspector. */
export interface FrameRow {
  readonly index: number;
  /** Milliseconds since the run was started on this page. */
  readonly time: number;
  /** The log offset (`epoch-sequence`); null for frames that are not in the log (metadata, redirect, reconnect). */
  readonly offset: string | null;
  readonly kind: FrameKind;
  /** Hashed step id; null for chunks outside steps and for run-level frames. */
  readonly step: string | null;
  readonly detail: string;
}

type AttemptOutcome = "streaming" | "committed" | "rolled back";

/** One attempt of one step, as far as the frames tell. */
export interface AttemptRow {
  readonly attempt: number;
  readonly startedAt: number;
  readonly endedAt: number | null;
  readonly tokens: number;
  readonly outcome: AttemptOutcome;
  readonly error: string | null;
}

export interface StepRow {
  /** Hashed step id, or null for output streamed outside steps. */
  readonly step: string | null;
  readonly attempts: readonly AttemptRow[];
}

export type TimelineKind = "start" | "connected" | "attempt" | "commit" | "rollback" | "redirect" | "reconnect" | "worker" | "finish";

export interface TimelineEntry {
  readonly index: number;
  readonly time: number;
  readonly kind: TimelineKind;
  readonly step: string | null;
  /** What happened, in words (step names are filled in by the view from `step`). */
  readonly text: string;
  /** "ok" (green), "bad" (red), "info" (neutral), "warn" (amber): the badge colour. */
  readonly tone: "ok" | "bad" | "info" | "warn";
}

export interface RunLogSnapshot {
  readonly frames: readonly FrameRow[];
  readonly steps: readonly StepRow[];
  readonly timeline: readonly TimelineEntry[];
  readonly connections: number;
  readonly redirects: number;
  readonly reconnects: number;
}

const EMPTY: RunLogSnapshot = { frames: [], steps: [], timeline: [], connections: 0, redirects: 0, reconnects: 0 };

interface MutableAttempt {
  attempt: number;
  startedAt: number;
  endedAt: number | null;
  tokens: number;
  outcome: AttemptOutcome;
  error: string | null;
}

/** Collects one run's frames; `subscribe` listeners hear about changes at most every `throttleMs`. */
export class RunLog {
  #startedAt = performance.now();
  #frames: FrameRow[] = [];
  #timeline: TimelineEntry[] = [];
  #steps = new Map<string | null, MutableAttempt[]>();
  #connections = 0;
  #redirects = 0;
  #reconnects = 0;
  #snapshot: RunLogSnapshot = EMPTY;
  #dirty = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #listeners = new Set<() => void>();
  readonly #throttleMs: number;

  constructor(throttleMs = 50) {
    this.#throttleMs = throttleMs;
  }

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  getSnapshot = (): RunLogSnapshot => this.#snapshot;

  /** Forgets everything: a new run starts now. */
  reset(label: string): void {
    this.#startedAt = performance.now();
    this.#frames = [];
    this.#timeline = [];
    this.#steps = new Map();
    this.#connections = this.#redirects = this.#reconnects = 0;
    this.#event("start", null, label, "info");
    this.#publish(true);
  }

  metadata({ runId, offset }: StreamMetadata): void {
    if (this.#timeline.length === 0) this.#event("start", null, "resuming the run saved in sessionStorage (the page was reloaded)", "info");
    this.#connections += 1;
    const how = this.#connections === 1 ? "connected" : "connected again";
    this.#frame(null, "metadata", null, `run ${runId}${offset === null ? "" : `, after ${offset}`}`);
    this.#event("connected", null, `${how}: run ${runId}${offset === null ? "" : ` (reading after ${offset})`}`, "info");
    this.#publish();
  }

  data({ data, hashedStepId, offset }: StreamChunk): void {
    this.#frame(offset, "data", hashedStepId, JSON.stringify(data));
    let attempt = this.#openAttempt(hashedStepId);
    if (attempt === undefined) {
      const attempts = this.#attempts(hashedStepId);
      const number = (attempts[attempts.length - 1]?.attempt ?? 0) + 1;
      attempt = { attempt: number, startedAt: this.#now(), endedAt: null, tokens: 0, outcome: "streaming", error: null };
      attempts.push(attempt);
      if (hashedStepId !== null) this.#event("attempt", hashedStepId, `attempt ${number} streaming`, "info");
    }
    attempt.tokens += 1;
    this.#publish();
  }

  commit({ hashedStepId, offset }: StepCommit): void {
    this.#frame(offset, "commit", hashedStepId, "");
    const attempt = this.#openAttempt(hashedStepId) ?? this.#newClosedAttempt(hashedStepId, null);
    attempt.outcome = "committed";
    attempt.endedAt = this.#now();
    const took = attempt.endedAt - attempt.startedAt;
    this.#event(
      "commit",
      hashedStepId,
      hashedStepId === null
        ? `output streamed outside steps committed (${plural(attempt.tokens, "chunk")})`
        : `committed ${plural(attempt.tokens, "chunk")} (attempt ${attempt.attempt}, ${seconds(took)})`,
      "ok",
    );
    this.#publish();
  }

  rollback({ hashedStepId, offset, attempt: number, willRetry, error }: StepRollback): void {
    const message = `${error.name}: ${error.message}`;
    this.#frame(offset, "rollback", hashedStepId, `attempt ${number}, ${willRetry ? "will retry" : "no retry"}, ${message}`);
    const attempt = this.#openAttempt(hashedStepId) ?? this.#newClosedAttempt(hashedStepId, number);
    attempt.attempt = number; // the server's count is authoritative
    attempt.outcome = "rolled back";
    attempt.error = message;
    attempt.endedAt = this.#now();
    this.#event(
      "rollback",
      hashedStepId,
      `attempt ${number} rolled back, ${plural(attempt.tokens, "chunk")} discarded: ${message}${willRetry ? " (will retry)" : " (no retries left)"}`,
      "bad",
    );
    this.#publish();
  }

  redirect({ url, reason, offset }: StreamRedirect): void {
    this.#redirects += 1;
    this.#frame(null, "redirect", null, `${reason} → ${new URL(url).pathname}${offset === null ? "" : `, Last-Event-ID ${offset}`}`);
    this.#event("redirect", null, `redirected (${reason}): following to the wait endpoint${offset === null ? "" : ` after ${offset}`}`, "warn");
    this.#publish();
  }

  reconnect({ attempt, delay, error, offset }: ReconnectAttempt): void {
    this.#reconnects += 1;
    this.#frame(
      null,
      "reconnect",
      null,
      `attempt ${attempt} in ${Math.round(delay)} ms after ${error.code}${offset === null ? "" : `, Last-Event-ID ${offset}`}`,
    );
    this.#event(
      "reconnect",
      null,
      `connection lost (${error.code}); reconnect ${attempt} in ${Math.round(delay)} ms${offset === null ? "" : ` from ${offset}`}`,
      "warn",
    );
    this.#publish();
  }

  /** Something the page learnt about the worker process (from /api/worker). */
  worker(text: string): void {
    this.#event("worker", null, text, "warn");
    this.#publish();
  }

  finish(snapshot: DurableStreamSnapshot<unknown, unknown>): void {
    const { status, result, error, offset } = snapshot;
    const detail = result !== null ? `${status}, HTTP ${result.status}` : `${status}${error === null ? "" : `: ${error.message}`}`;
    if (result !== null) this.#frame(offset, "result", null, detail);
    const tone = status === "succeeded" && (result === null || result.status < 400) ? "ok" : status === "aborted" ? "warn" : "bad";
    this.#event("finish", null, `run ${detail}`, tone);
    this.#publish(true);
  }

  #now(): number {
    return performance.now() - this.#startedAt;
  }

  #attempts(step: string | null): MutableAttempt[] {
    let attempts = this.#steps.get(step);
    if (attempts === undefined) this.#steps.set(step, (attempts = []));
    return attempts;
  }

  #openAttempt(step: string | null): MutableAttempt | undefined {
    const last = this.#steps.get(step)?.at(-1);
    return last?.outcome === "streaming" ? last : undefined;
  }

  #newClosedAttempt(step: string | null, number: number | null): MutableAttempt {
    const attempts = this.#attempts(step);
    const attempt: MutableAttempt = {
      attempt: number ?? (attempts.at(-1)?.attempt ?? 0) + 1,
      startedAt: this.#now(),
      endedAt: null,
      tokens: 0,
      outcome: "streaming",
      error: null,
    };
    attempts.push(attempt);
    return attempt;
  }

  #frame(offset: string | null, kind: FrameKind, step: string | null, detail: string): void {
    this.#frames.push({ index: this.#frames.length + 1, time: this.#now(), offset, kind, step, detail });
  }

  #event(kind: TimelineKind, step: string | null, text: string, tone: TimelineEntry["tone"]): void {
    this.#timeline.push({ index: this.#timeline.length, time: this.#now(), kind, step, text, tone });
  }

  #publish(now = false): void {
    this.#dirty = true;
    if (now) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#flush();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#flush();
      }, this.#throttleMs);
    }
  }

  #flush(): void {
    if (!this.#dirty) return;
    this.#dirty = false;
    this.#snapshot = {
      frames: this.#frames.slice(),
      steps: [...this.#steps].map(([step, attempts]) => ({ step, attempts: attempts.map((attempt) => ({ ...attempt })) })),
      timeline: this.#timeline.slice(),
      connections: this.#connections,
      redirects: this.#redirects,
      reconnects: this.#reconnects,
    };
    for (const listener of this.#listeners) listener();
  }
}

export function seconds(milliseconds: number): string {
  return `${(milliseconds / 1000).toFixed(2)} s`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** Hex SHA-1 of a step id, as the protocol hashes them (Web Crypto; null where it is unavailable, e.g. plain http on a LAN address). */
export async function hashStepName(name: string): Promise<string | null> {
  if (globalThis.crypto?.subtle === undefined) return null;
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(name));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
