import type { DurableStreamStatus } from "./durable-stream-types.js";

/**
 * Whether a stream in `status` has a run in progress: `connecting`, `streaming`, `waiting` or
 * `reconnecting`. Exactly then `start()` and `resume()` start nothing new (they return the running
 * stream's promise) and `abort()` has a connection to stop; `idle`, `succeeded`, `failed` and
 * `aborted` are at rest. The rule for "busy" in a UI (a
 * disabled Send button, a Stop button), rather than `status === "streaming"`, which is false while
 * the request is on its way, while the run sleeps and while reconnecting.
 *
 * @example
 * ```ts
 * const { status } = stream.getSnapshot();
 * sendButton.disabled = isActiveStatus(status);
 * stopButton.hidden = !isActiveStatus(status);
 * ```
 */
export function isActiveStatus(status: DurableStreamStatus): boolean {
  return status === "connecting" || status === "streaming" || status === "waiting" || status === "reconnecting";
}
