import type { ActiveRun } from "./active-run.js";
import type { DurableStreamState } from "./durable-stream-state.js";
import type { DurableStreamOptions } from "./durable-stream-types.js";
import { isEventStreamResponse } from "./event-stream-media-type.js";
import type { FetchFunction, FetchWithStreamOptions } from "./fetch-with-stream-options.js";

/**
 * The `fetchWithStream` callbacks of `run`: each applies its frame to `state` (the committed view,
 * the status, the offset), persists at safe points, notifies the subscribers, then calls the
 * store's own callback of that name from `options()` (read at each frame: `setOptions` may have
 * replaced them). Frames of a run the store let go of (`run.stopped`) are ignored. Internal.
 */
export function runCallbacks<T, R>(state: DurableStreamState<T, R>, run: ActiveRun<T>, options: () => DurableStreamOptions): FetchWithStreamOptions {
  const applied = (offset: string): void => {
    state.offset = offset;
    run.waiting = false;
    state.status = "streaming";
  };
  return {
    onMetadata: (metadata) => {
      if (run.stopped) return;
      state.runId = metadata.runId;
      state.resumeUrl = metadata.resumeUrl;
      if (state.status === "connecting" || state.status === "reconnecting") state.status = run.waiting ? "waiting" : "streaming";
      run.persistence?.save();
      state.changed();
      options().onMetadata?.(metadata);
    },
    onData: (chunk) => {
      if (run.stopped) return;
      state.view.data(chunk.hashedStepId, chunk.data as T);
      applied(chunk.offset);
      state.changed();
      options().onData?.(chunk);
    },
    onCommit: (commit) => {
      if (run.stopped) return;
      state.view.commit(commit.hashedStepId);
      applied(commit.offset);
      run.settledStep(commit.offset, state.view);
      state.changed();
      options().onCommit?.(commit);
    },
    onRollback: (rollback) => {
      if (run.stopped) return;
      state.view.rollback(rollback.hashedStepId);
      applied(rollback.offset);
      run.settledStep(rollback.offset, state.view);
      state.changed();
      options().onRollback?.(rollback);
    },
    onRedirect: (redirect) => {
      if (run.stopped) return;
      run.waiting = true;
      state.status = "waiting";
      state.changed();
      options().onRedirect?.(redirect);
    },
    onReconnect: (attempt) => {
      if (run.stopped) return;
      state.status = "reconnecting";
      state.changed();
      options().onReconnect?.(attempt);
    },
    onResult: (frame) => {
      // Applied when the response is read (see `RunLifecycle`): status, result and offset change together.
      if (!run.stopped) run.result = frame;
    },
  };
}

/**
 * The `fetch` of `run`, noticing when a reconnect succeeded: `fetchWithStream` reports no metadata
 * for a connection to the same run, and the run may well sleep on, sending no frame for a while.
 * Internal.
 */
export function runFetch<T, R>(state: DurableStreamState<T, R>, run: ActiveRun<T>, fetchFunction: FetchFunction | undefined): FetchFunction {
  return async (input, init) => {
    const response = await (fetchFunction ?? globalThis.fetch)(input, init);
    if (!run.stopped && state.status === "reconnecting" && response.ok && isEventStreamResponse(response)) {
      state.status = run.waiting ? "waiting" : "streaming";
      state.changed();
    }
    return response;
  };
}
