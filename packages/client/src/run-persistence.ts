import { createRunSaver, loadPersistedRun, removePersistedRun, resolveStorage, type PersistedRun } from "./durable-stream-persistence.js";
import type { DurableStreamOptions } from "./durable-stream-types.js";

/**
 * How a `DurableStream` persists one run, with the `persistKey` and storage of the options the run
 * started with: saves while it streams (throttled), keeps the last position when it stops
 * unfinished, removes it when it ended. Internal.
 */
export interface RunPersistence {
  /** The run's position or metadata changed: save it (at once, or at the end of the interval). */
  save(): void;
  /** The run stopped before its end (aborted, or failed on the way): save where it stands, then stop saving. */
  keep(): void;
  /** The run ended (or was reset): stop saving, and remove what was saved. */
  discard(): void;
}

/**
 * The persistence of a run started with `options`, saving what `read()` returns (nothing while it
 * returns `undefined`); `undefined` when `options` persist nothing (no `persistKey`, no storage).
 */
export function createRunPersistence<T>(options: DurableStreamOptions, read: () => PersistedRun<T> | undefined): RunPersistence | undefined {
  const storage = resolveStorage(options);
  const key = options.persistKey;
  if (storage === undefined || key === undefined) return undefined;
  const saver = createRunSaver<T>(storage, key, read);
  return {
    save: () => saver.schedule(),
    keep() {
      saver.flush();
      saver.cancel();
    },
    discard() {
      saver.cancel();
      removePersistedRun(storage, key);
    },
  };
}

/** The unfinished run persisted under the `persistKey` of `options`, if there is one. */
export function loadRunOf<T>(options: DurableStreamOptions): PersistedRun<T> | undefined {
  const storage = resolveStorage(options);
  return storage === undefined || options.persistKey === undefined ? undefined : loadPersistedRun<T>(storage, options.persistKey);
}

/** Removes the run persisted under the `persistKey` of `options`, if any. */
export function forgetRunOf(options: DurableStreamOptions): void {
  const storage = resolveStorage(options);
  if (storage !== undefined && options.persistKey !== undefined) removePersistedRun(storage, options.persistKey);
}
