import type { FetchWithStreamOptions } from "@durastream/client";
import { expect } from "vitest";

/** What the recorder saw, one entry per callback call, in call order. */
export type RecordedEvent = readonly [name: string, argument?: unknown];

/**
 * Callbacks for `fetchWithStream` that record every call (copying the documented fields only).
 *
 * @example
 * ```ts
 * const { events, callbacks } = recorder();
 * await fetchWithStream(url, callbacks);
 * expect(events.map(([name]) => name)).toEqual(["metadata", "data", "done"]);
 * ```
 */
export function recorder(): { events: RecordedEvent[]; callbacks: FetchWithStreamOptions } {
  const events: RecordedEvent[] = [];
  return {
    events,
    callbacks: {
      onMetadata: (metadata) => events.push(["metadata", { ...metadata }]),
      onData: ({ data, hashedStepId, offset }) => events.push(["data", { data, hashedStepId, offset }]),
      onCommit: ({ hashedStepId, offset }) => events.push(["commit", { hashedStepId, offset }]),
      onRollback: ({ hashedStepId, attempt, willRetry, error, offset }) => events.push(["rollback", { hashedStepId, attempt, willRetry, error, offset }]),
      onRedirect: (redirect) => events.push(["redirect", { ...redirect }]),
      onReconnect: ({ attempt, delay, error, url, offset }) =>
        events.push(["reconnect", { attempt, delay, code: error.code, status: error.status, url, offset }]),
      onStreamError: (error) => events.push(["streamError", error]),
      onWarning: (warning) => events.push(["warning", warning.code]),
      onDone: () => events.push(["done"]),
    },
  };
}

/**
 * Asserts `onDone` ran exactly once, after every other callback.
 *
 * @example
 * ```ts
 * expectDoneOnceAndLast(events);
 * ```
 */
export function expectDoneOnceAndLast(events: readonly RecordedEvent[]): void {
  expect(events.filter(([name]) => name === "done")).toHaveLength(1);
  expect(events.at(-1)?.[0]).toBe("done");
}
