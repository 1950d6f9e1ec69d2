"use client";

import {
  createDurableStream,
  throttleSnapshots,
  type DurableStream,
  type DurableStreamOptions,
  type DurableStreamSnapshot,
  type ThrottledSnapshots,
} from "@durastream/client";
import { useEffect, useLayoutEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";

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
 * Options of `useDurableStream` over an existing stream (from `createDurableStream`), e.g. one run
 * shown by several components. The hook renders the stream's state and binds its actions; it
 * leaves the stream's lifecycle to whoever created it: it does not change its options, and does not
 * abort it when the component unmounts.
 *
 * @example
 * ```ts
 * const answer = createDurableStream<string>({ url: "/api/chat", fetchOpts: { method: "POST" } });
 * const options: UseDurableStreamInstanceOptions<string, unknown> = { stream: answer, throttleMs: 100 };
 * ```
 */
export interface UseDurableStreamInstanceOptions<T = unknown, R = unknown> {
  /** The stream to render. Components given the same stream show the same run. */
  stream: DurableStream<T, R>;
  /** Renders are batched: at most one per throttleMs (default 50) while streaming; the last state always renders. */
  throttleMs?: number;
  /**
   * Call `stream.resume()` on mount, which resumes the stream's persisted unfinished run if it has
   * one and nothing is running (default false: the stream's creator decides).
   */
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
  /** Stops the connection and cancels the run at the server (`DurableStream.cancel`). */
  cancel: DurableStream<T, R>["cancel"];
  reset: () => void;
  resume: DurableStream<T, R>["resume"];
};

type Actions<T, R> = Pick<UseDurableStreamResult<T, R>, "start" | "abort" | "cancel" | "reset" | "resume">;

/** A stream as one component renders it: its throttled snapshots, its server snapshot, its stable actions. */
interface Binding<T, R> {
  readonly source: ThrottledSnapshots<T, R>;
  readonly initial: DurableStreamSnapshot<T, R>;
  readonly actions: Actions<T, R>;
}

/** The store a component created itself (when given no `stream`), created on first need and kept. */
interface OwnedStore<T, R> {
  store: DurableStream<T, R> | undefined;
  /** The abort scheduled by an unmount; cancelled when the component mounts again at once (Strict Mode). */
  pendingAbort: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Streams a durable endpoint into a component: a thin binding over `createDurableStream` via
 * `useSyncExternalStore`. Renders the committed chunks and each step's uncommitted chunks, the
 * status (`connecting`, `streaming`, `waiting` while the run sleeps, `reconnecting`, `succeeded`,
 * `failed`, `aborted`; `isActiveStatus(status)` says whether a run is in progress) and the result,
 * with renders throttled to one per `throttleMs` while streaming (`throttleSnapshots`).
 *
 * Given the options of `createDurableStream`, the hook creates one store per component, and owns
 * it: the latest render's options are used by later `start()`/`resume()` calls, and unmounting
 * aborts the connection (the run goes on at the server). Given `{ stream }`, an existing store, it
 * renders that one: components given the same stream share its run (one connection), and the hook
 * neither changes its options nor aborts it on unmount.
 *
 * Safe for server rendering (renders the initial snapshot, touches no browser API) and for Strict
 * Mode (double effects start one run). With `persistKey`, a page reload resumes the run on mount
 * instead of losing it.
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
 *       <button disabled={isActiveStatus(status)} onClick={() => start({ body: JSON.stringify({ prompt }) })}>Ask</button>
 *       <p>{committedText}<span style={{ opacity: 0.5 }}>{uncommittedText}</span></p>
 *     </div>
 *   );
 * }
 *
 * // One run, two components: create the stream once and pass it.
 * const answer = createDurableStream<string>({ url: "/api/chat", fetchOpts: { method: "POST" } });
 * function StopButton() {
 *   const { status, abort } = useDurableStream({ stream: answer });
 *   return isActiveStatus(status) ? <button onClick={() => abort()}>Stop</button> : null;
 * }
 * ```
 */
export function useDurableStream<T = unknown, R = unknown>(
  options: UseDurableStreamOptions | UseDurableStreamInstanceOptions<T, R>,
): UseDurableStreamResult<T, R> {
  const given = isInstanceOptions(options) ? options.stream : undefined;
  const [owned] = useState<OwnedStore<T, R>>(() => ({ store: undefined, pendingAbort: undefined }));
  if (given === undefined) owned.store ??= createDurableStream<T, R>(options as UseDurableStreamOptions);
  const store = given ?? owned.store!;

  // The latest options (for the throttle interval and for later start()/resume() calls of an owned
  // store), set before any effect of this render runs.
  const latest = useRef(options);
  useLayoutEffect(() => {
    latest.current = options;
    if (!isInstanceOptions(options)) owned.store?.setOptions(options);
  });

  const binding = useMemo(() => createBinding(store, () => latest.current.throttleMs ?? DEFAULT_THROTTLE_MS), [store]);
  const snapshot = useSyncExternalStore(binding.source.subscribe, binding.source.getSnapshot, () => binding.initial);

  useEffect(() => {
    const owns = store === owned.store;
    if (owns && owned.pendingAbort !== undefined) {
      // Unmounted and mounted again at once (Strict Mode, a moved subtree): keep the stream.
      clearTimeout(owned.pendingAbort);
      owned.pendingAbort = undefined;
    }
    const current = latest.current;
    const resumeOnMount = isInstanceOptions(current) ? current.resumeOnMount === true : (current.resumeOnMount ?? current.persistKey !== undefined);
    if (resumeOnMount) void store.resume();
    if (!owns) return undefined;
    return () => {
      owned.pendingAbort = setTimeout(() => {
        owned.pendingAbort = undefined;
        store.abort(new DOMException("The component using useDurableStream unmounted.", "AbortError"));
      }, 0);
    };
  }, [store, owned]);

  return useMemo(() => ({ ...snapshot, ...binding.actions }), [snapshot, binding]);
}

function isInstanceOptions<T, R>(options: UseDurableStreamOptions | UseDurableStreamInstanceOptions<T, R>): options is UseDurableStreamInstanceOptions<T, R> {
  return (options as Partial<UseDurableStreamInstanceOptions<T, R>>).stream !== undefined;
}

function createBinding<T, R>(store: DurableStream<T, R>, throttleMs: () => number): Binding<T, R> {
  return {
    source: throttleSnapshots(store, throttleMs),
    initial: store.getSnapshot(),
    actions: {
      start: (input) => store.start(input),
      abort: (reason) => store.abort(reason),
      cancel: (reason, init) => store.cancel(reason, init),
      reset: () => store.reset(),
      resume: (position) => store.resume(position),
    },
  };
}
