/** Waiting for, and recording, what a `DurableStream`'s subscribers see. */
import type { DurableStream, DurableStreamSnapshot, DurableStreamStatus } from "@durastream/client";

/**
 * Resolves with the first snapshot of `stream` that satisfies `predicate` (checked at once, then at
 * every notification).
 *
 * @example
 * ```ts
 * await snapshotWhere(stream, ({ committed }) => committed.length === 2);
 * ```
 */
export function snapshotWhere<T, R>(
  stream: DurableStream<T, R>,
  predicate: (snapshot: DurableStreamSnapshot<T, R>) => boolean,
): Promise<DurableStreamSnapshot<T, R>> {
  return new Promise((resolve) => {
    const check = (): boolean => {
      const snapshot = stream.getSnapshot();
      if (!predicate(snapshot)) return false;
      resolve(snapshot);
      return true;
    };
    if (check()) return;
    const unsubscribe = stream.subscribe(() => {
      if (check()) unsubscribe();
    });
  });
}

/**
 * Resolves once `stream` reaches `status`.
 *
 * @example
 * ```ts
 * await statusReached(stream, "waiting");
 * ```
 */
export function statusReached<T, R>(stream: DurableStream<T, R>, status: DurableStreamStatus): Promise<DurableStreamSnapshot<T, R>> {
  return snapshotWhere(stream, (snapshot) => snapshot.status === status);
}

/**
 * Records the status of every snapshot a subscriber sees (repeats collapsed).
 *
 * @example
 * ```ts
 * const statuses = recordStatuses(stream);
 * await stream.start();
 * expect(statuses).toEqual(["connecting", "streaming", "succeeded"]);
 * ```
 */
export function recordStatuses(stream: DurableStream<unknown, unknown>): DurableStreamStatus[] {
  const statuses: DurableStreamStatus[] = [];
  stream.subscribe(() => {
    const { status } = stream.getSnapshot();
    if (statuses.at(-1) !== status) statuses.push(status);
  });
  return statuses;
}
