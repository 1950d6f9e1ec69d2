import { InvalidOptionsError } from "@durastream/protocol";
import { DurableStreamState } from "./durable-stream-state.js";
import type { DurableStream, DurableStreamOptions } from "./durable-stream-types.js";
import { RunLifecycle } from "./run-lifecycle.js";

/**
 * Creates a framework-neutral store for a durable stream, built on `fetchWithStream` and
 * `resumeStream`: it applies the committed view of the protocol (committed chunks, and the
 * uncommitted chunks of each step), tracks the status (`connecting`, `streaming`, `waiting` after a
 * redirect, `reconnecting`, `succeeded`, `failed`, `aborted`) and the run's result, and notifies
 * subscribers synchronously after every frame. Snapshots are immutable and built lazily: a
 * 100,000-chunk stream costs O(1) amortized per chunk.
 *
 * With `persistKey`, the run's resume position is saved (throttled) in `storage` (default
 * `sessionStorage`), so that after a page reload `start()` (or `resume()`) picks the run up
 * instead of starting a new one.
 *
 * @example
 * ```ts
 * const stream = createDurableStream<string, { answer: string }>({
 *   url: "/api/chat",
 *   fetchOpts: { method: "POST", headers: { "content-type": "application/json" } },
 *   persistKey: "chat",
 * });
 * stream.subscribe(() => {
 *   const { status, committedText, uncommittedText } = stream.getSnapshot();
 *   output.innerHTML = `${escape(committedText)}<span class="dim">${escape(uncommittedText)}</span>`;
 *   statusLine.textContent = status;
 * });
 * await stream.start({ body: JSON.stringify({ prompt: "Hi" }) });
 * ```
 */
export function createDurableStream<T = unknown, R = unknown>(initialOptions: DurableStreamOptions): DurableStream<T, R> {
  let options = checkOptions(initialOptions);
  const state = new DurableStreamState<T, R>();
  const runs = new RunLifecycle<T, R>(state, () => options);
  // Plain functions (no `this`), so they can be passed around unbound.
  return {
    subscribe: (listener) => state.subscribe(listener),
    getSnapshot: () => state.getSnapshot(),
    start: (input) => runs.start(input),
    resume: (position) => runs.resume(position),
    abort: (reason) => runs.abort(reason),
    cancel: (reason, init) => runs.cancel(reason, init),
    reset: () => runs.reset(),
    setOptions(next) {
      options = checkOptions(next);
    },
    hasPersistedRun: () => runs.persistedRun() !== undefined,
  };
}

function checkOptions(options: DurableStreamOptions): DurableStreamOptions {
  const url: unknown = (options as Partial<DurableStreamOptions> | undefined)?.url;
  if (typeof url !== "string" && !(url instanceof URL)) {
    throw new InvalidOptionsError(`createDurableStream needs the endpoint's url (a string or URL), got ${String(url)}.`);
  }
  return options;
}
