import type { DurableStreamStorage } from "@durastream/client";

/** The run a chat is streaming (or was, when its connection went away): what `reconnectToStream` resumes. */
interface RememberedRun {
  /** The run's id. */
  readonly runId: string;
  /** The run's latest resume URL (the wait endpoint's, with its token). */
  readonly resumeUrl: string;
}

/** The default {@link ChatRunMemory} key prefix: runs are saved under `durastream-chat:<chatId>`. */
const DEFAULT_STORAGE_KEY_PREFIX = "durastream-chat:";

function defaultStorage(): DurableStreamStorage | undefined {
  try {
    return (globalThis as { sessionStorage?: DurableStreamStorage }).sessionStorage ?? undefined;
  } catch {
    // Some browsers throw when storage is disabled (sandboxed iframes, blocked cookies).
    return undefined;
  }
}

function parse(text: string | null): RememberedRun | undefined {
  if (text === null) return undefined;
  try {
    const value = JSON.parse(text) as Partial<RememberedRun> | null;
    return typeof value?.runId === "string" && typeof value.resumeUrl === "string" ? { runId: value.runId, resumeUrl: value.resumeUrl } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Per chat id, the run to resume: in memory, and in `storage` (default `sessionStorage` when it
 * exists; `false`: memory only) so that a page reload finds it. Storage failures (quota, disabled
 * storage) are ignored: memory still works. Internal.
 */
export class ChatRunMemory {
  readonly #runs = new Map<string, RememberedRun>();
  readonly #storage: DurableStreamStorage | undefined;
  readonly #prefix: string;

  constructor(storage: DurableStreamStorage | false | undefined, prefix: string = DEFAULT_STORAGE_KEY_PREFIX) {
    this.#storage = storage === false ? undefined : (storage ?? defaultStorage());
    this.#prefix = prefix;
  }

  /** The run remembered for `chatId`, from memory or else from storage. */
  get(chatId: string): RememberedRun | undefined {
    const run = this.#runs.get(chatId);
    if (run !== undefined) return run;
    let saved: RememberedRun | undefined;
    try {
      saved = parse(this.#storage?.getItem(this.#prefix + chatId) ?? null);
    } catch {
      return undefined;
    }
    if (saved !== undefined) this.#runs.set(chatId, saved);
    return saved;
  }

  /** Remembers `run` as the one to resume for `chatId` (a newer URL of the same run replaces the older). */
  set(chatId: string, run: RememberedRun): void {
    const known = this.#runs.get(chatId);
    if (known?.runId === run.runId && known.resumeUrl === run.resumeUrl) return;
    this.#runs.set(chatId, run);
    try {
      this.#storage?.setItem(this.#prefix + chatId, JSON.stringify(run));
    } catch {
      // Quota or disabled storage: a reload will not resume, the page still does.
    }
  }

  /** Forgets the run of `chatId`, if it is `runId` (a newer run of the chat stays). */
  delete(chatId: string, runId: string): void {
    if (this.get(chatId)?.runId !== runId) return;
    this.#runs.delete(chatId);
    try {
      this.#storage?.removeItem(this.#prefix + chatId);
    } catch {
      // As in set().
    }
  }
}
