import type { DurableStreamOptions, DurableStreamStorage } from "./durable-stream-types.js";

/**
 * What a `DurableStream` persists about an unfinished run, as JSON under its `persistKey`: enough
 * to resume it after a page reload without losing or repeating a chunk. `offset` is the offset of
 * a commit or rollback frame after which no chunk was pending (or `null`: read the whole log), and
 * `committed` the committed chunks as of that frame. Earlier versions saved `offset` as
 * `lastEventId`; `loadPersistedRun` reads both. Internal.
 */
export interface PersistedRun<T> {
  readonly runId: string;
  readonly resumeUrl: string;
  readonly offset: string | null;
  readonly committed: readonly T[];
}

/** Saves at most this often while a run streams (plus once when it stops unfinished). */
export const PERSIST_INTERVAL_MS = 250;

/**
 * The storage to persist in: none without a `persistKey`; else `options.storage`, or
 * `globalThis.sessionStorage` where it exists (browsers). Reads `sessionStorage` only when called,
 * never when a store is created, so creating a store during a server render touches nothing.
 */
export function resolveStorage(options: DurableStreamOptions): DurableStreamStorage | undefined {
  if (options.persistKey === undefined) return undefined;
  if (options.storage !== undefined) return options.storage;
  try {
    return (globalThis as { sessionStorage?: DurableStreamStorage }).sessionStorage ?? undefined;
  } catch {
    // Some browsers throw when storage is disabled (sandboxed iframes, blocked cookies).
    return undefined;
  }
}

/**
 * The unfinished run persisted under `key`, or `undefined` when there is none (or what is there is
 * not a persisted run, or the storage cannot be read). A run saved by an earlier version (with
 * `lastEventId` for `offset`) is read too, so a page saved before an upgrade still resumes.
 */
export function loadPersistedRun<T>(storage: DurableStreamStorage, key: string): PersistedRun<T> | undefined {
  let value: unknown;
  try {
    const text = storage.getItem(key);
    if (text === null) return undefined;
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return toPersistedRun<T>(value);
}

/**
 * Removes the run persisted under `key`; a storage that throws is ignored.
 */
export function removePersistedRun(storage: DurableStreamStorage, key: string): void {
  try {
    storage.removeItem(key);
  } catch {
    // Nothing to do: the run was not persisted either.
  }
}

/**
 * Saves a run's resume position, throttled: the first change is saved at once, later ones at most
 * once per `interval` ms (the latest state wins).
 */
export interface RunSaver {
  /** Saves now, or at the end of the current interval when a save happened less than `interval` ago. */
  schedule(): void;
  /** Saves now and stops a pending save. */
  flush(): void;
  /** Stops pending saves for good. */
  cancel(): void;
}

/**
 * Creates a `RunSaver` that writes `read()` (when not `undefined`) as JSON under `key`. A storage
 * that throws (quota, private mode) only loses persistence; the stream goes on.
 */
export function createRunSaver<T>(
  storage: DurableStreamStorage,
  key: string,
  read: () => PersistedRun<T> | undefined,
  interval: number = PERSIST_INTERVAL_MS,
): RunSaver {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pending = false;
  let cancelled = false;

  const save = (): void => {
    const run = read();
    if (run === undefined) return;
    try {
      storage.setItem(key, JSON.stringify(run));
    } catch {
      // Persistence is best effort.
    }
  };
  const cool = (): void => {
    timer = undefined;
    if (!pending) return;
    pending = false;
    save();
    timer = setTimeout(cool, interval);
  };
  const stop = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    pending = false;
  };

  return {
    schedule() {
      if (cancelled) return;
      if (timer !== undefined) {
        pending = true;
        return;
      }
      save();
      timer = setTimeout(cool, interval);
    },
    flush() {
      if (cancelled) return;
      stop();
      save();
    },
    cancel() {
      cancelled = true;
      stop();
    },
  };
}

/** `value` as a `PersistedRun` (the current shape, or the earlier one with `lastEventId`), or `undefined`. */
function toPersistedRun<T>(value: unknown): PersistedRun<T> | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const run = value as Record<string, unknown>;
  // Earlier versions saved the offset as `lastEventId`.
  const offset = "offset" in run ? run.offset : run.lastEventId;
  if (typeof run.runId !== "string" || typeof run.resumeUrl !== "string" || (offset !== null && typeof offset !== "string") || !Array.isArray(run.committed)) {
    return undefined;
  }
  return { runId: run.runId, resumeUrl: run.resumeUrl, offset, committed: run.committed as T[] };
}
