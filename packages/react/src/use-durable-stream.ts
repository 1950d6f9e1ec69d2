"use client";

import {
  createDurableStream,
  type DurableStream,
  type DurableStreamOptions,
  type DurableStreamSnapshot,
} from "@durastream/client";
import { useEffect, useLayoutEffect, useMemo, useState, useSyncExternalStore } from "react";
import { throttleSnapshots, type ThrottledSnapshots } from "./throttled-snapshots.js";

/** Renders at most this often while streaming, unless `throttleMs` says otherwise. */
const DEFAULT_THROTTLE_MS = 50;

/**
 * Options of `useDurableStream`: those of `createDurableStream`, plus rendering and mounting.
 *
 * @example
 * ```ts
 * const options: UseDurableStreamOptions = {
 *   url: "/api/chat",
 *   fetchOpts: { method: "POST", headers: { "content-type": "application/json" } },
 *   persistKey: "chat",
 *   throttleMs: 33,
 * };
 * ```
 */
export interface UseDurableStreamOptions extends DurableStreamOptions {
  /** Renders are batched: at most one per throttleMs (default 50) while streaming; the last state always renders. */
  throttleMs?: number;
  /** Resume a persisted unfinished run on mount (default true when persistKey is set). */
  resumeOnMount?: boolean;
}

/**
 * What `useDurableStream` returns: the current snapshot's fields, and the store's actions (stable
 * functions, safe to pass to children and effects).
 *
 * @example
 * ```ts
 * const { status, committedText, uncommittedText, start, abort }: UseDurableStreamResult<string, unknown> =
 *   useDurableStream({ url: "/api/chat", fetchOpts: { method: "POST" } });
 * ```
 */
export type UseDurableStreamResult<T, R> = DurableStreamSnapshot<T, R> & {
  start: (input?: RequestInit) => Promise<void>;
  abort: (reason?: unknown) => void;
  reset: () => void;
  resume: DurableStream<T, R>["resume"];
};

/** One component's store, its throttled snapshots, and its stable actions. */
interface Binding<T, R> {
  readonly store: DurableStream<T, R>;
  readonly source: ThrottledSnapshots<T, R>;
  readonly initial: DurableStreamSnapshot<T, R>;
  readonly actions: Pick<UseDurableStreamResult<T, R>, "start" | "abort" | "reset" | "resume">;
  options: UseDurableStreamOptions;
  /** The abort scheduled by an unmount; cancelled when the component mounts again at once (Strict Mode). */
  pendingAbort: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Streams a durable endpoint into a component: a thin binding over `createDurableStream` (one store
 * per component) via `useSyncExternalStore`. Renders the committed chunks and each step's
 * uncommitted chunks, the status (`connecting`, `streaming`, `waiting` while the run sleeps,
 * `reconnecting`, `succeeded`, `failed`, `aborted`) and the result, with renders throttled to one
 * per `throttleMs` while streaming.
 *
 * Safe for server rendering (renders the initial snapshot, touches no browser API) and for Strict
 * Mode (double effects start one run). Unmounting aborts the connection (the run goes on at the
 * server). With `persistKey`, a page reload resumes the run on mount instead of losing it.
 *
 * @example
 * ```tsx
 * function Answer({ prompt }: { prompt: string }) {
 *   const { status, committedText, uncommittedText, start } = useDurableStream<string>({
 *     url: "/api/chat",
 *     fetchOpts: { method: "POST", headers: { "content-type": "application/json" } },
 *     persistKey: "answer",
 *   });
 *   return (
 *     <div>
 *       <button disabled={status === "streaming"} onClick={() => start({ body: JSON.stringify({ prompt }) })}>Ask</button>
 *       <p>{committedText}<span style={{ opacity: 0.5 }}>{uncommittedText}</span></p>
 *     </div>
 *   );
 * }
 * ```
 */
export function useDurableStream<T = unknown, R = unknown>(options: UseDurableStreamOptions): UseDurableStreamResult<T, R> {
  const [binding] = useState(() => createBinding<T, R>(options));

  // The latest options for later start()/resume() calls, set before any effect of this render runs.
  useLayoutEffect(() => {
    binding.options = options;
    binding.store.setOptions(options);
  });

  const snapshot = useSyncExternalStore(binding.source.subscribe, binding.source.getSnapshot, () => binding.initial);

  useEffect(() => {
    if (binding.pendingAbort !== undefined) {
      // Unmounted and mounted again at once (Strict Mode, a moved subtree): keep the stream.
      clearTimeout(binding.pendingAbort);
      binding.pendingAbort = undefined;
    }
    const { resumeOnMount, persistKey } = binding.options;
    if (resumeOnMount ?? persistKey !== undefined) void binding.store.resume();
    return () => {
      binding.pendingAbort = setTimeout(() => {
        binding.pendingAbort = undefined;
        binding.store.abort(new DOMException("The component using useDurableStream unmounted.", "AbortError"));
      }, 0);
    };
  }, [binding]);

  return useMemo(() => ({ ...snapshot, ...binding.actions }), [snapshot, binding]);
}

function createBinding<T, R>(options: UseDurableStreamOptions): Binding<T, R> {
  const store = createDurableStream<T, R>(options);
  const binding: Binding<T, R> = {
    store,
    source: throttleSnapshots(store, () => binding.options.throttleMs ?? DEFAULT_THROTTLE_MS),
    initial: store.getSnapshot(),
    actions: {
      start: (input) => store.start(input),
      abort: (reason) => store.abort(reason),
      reset: () => store.reset(),
      resume: (position) => store.resume(position),
    },
    options,
    pendingAbort: undefined,
  };
  return binding;
}
