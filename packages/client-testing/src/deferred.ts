/** A promise with its resolve function exposed, for sequencing tests on events instead of time. */
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

/**
 * Creates a `Deferred`.
 *
 * @example
 * ```ts
 * const firstChunk = deferred<void>();
 * await firstChunk.promise;
 * ```
 */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}
