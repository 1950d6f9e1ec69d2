import { DurastreamError } from "@durastream/protocol";
import { DurableError } from "../errors.js";

const marker = "durastream.error.RunKeyTakenError";

/**
 * The most UTF-8 bytes of a run key (`NewRun.key`, `durable.endpoint(handler, { key })`): keys are
 * stored in indexes and Redis key names, so they are kept short. 512.
 */
export const MAX_RUN_KEY_BYTES = 512;

/**
 * What `RunStore.createRun` rejects with when the new run's key (`NewRun.key`) is held by an
 * active (`running` or `suspended`) run of the same endpoint: nothing was created, and
 * `activeRunId` is the run holding the key, to attach to. Its `code` is `RUN_EXISTS` (a run
 * exists: with this key rather than this id); tell it apart with `RunKeyTakenError.isInstance`.
 *
 * @example
 * ```ts
 * try {
 *   await store.createRun({ ...run, key: chatId });
 * } catch (error) {
 *   if (RunKeyTakenError.isInstance(error)) return attach(error.activeRunId);
 *   throw error;
 * }
 * ```
 */
export class RunKeyTakenError extends DurableError {
  /** The endpoint whose key it is. */
  readonly endpointId: string;
  /** The key. */
  readonly key: string;
  /** The active run that holds the key. */
  readonly activeRunId: string;

  /**
   * @param store - the store's name, for the message (e.g. `"SqliteRunStore"`).
   * @example
   * ```ts
   * throw new RunKeyTakenError("MemoryRunStore", "chat", "chat-42", "01J…");
   * ```
   */
  constructor(store: string, endpointId: string, key: string, activeRunId: string) {
    super(
      "RUN_EXISTS",
      `${store}: run ${activeRunId} of endpoint ${JSON.stringify(endpointId)} holds the key ${JSON.stringify(key)} while it is active; attach to it, or create the run once it is over.`,
    );
    this.name = "RunKeyTakenError";
    DurastreamError.mark(this, marker);
    this.endpointId = endpointId;
    this.key = key;
    this.activeRunId = activeRunId;
  }

  /**
   * True for a `RunKeyTakenError` from any copy of this package.
   *
   * @example
   * ```ts
   * if (RunKeyTakenError.isInstance(error)) console.log(error.activeRunId);
   * ```
   */
  static override isInstance(value: unknown): value is RunKeyTakenError {
    return DurastreamError.hasMarker(value, marker);
  }
}
