import type { PipeSource } from "./context.js";
import { DurableError } from "./errors.js";
import { afterTurn } from "./event-loop.js";
import { TextAccumulator } from "./text-accumulator.js";

/**
 * Items a pipe handles before it lets timers and I/O run. A source that is always ready (cached
 * text, a mock model) resolves every read in a microtask, so without this a pipe over it would
 * never let the event loop write to sockets or notice a closed connection.
 */
const ITEMS_PER_TURN = 256;

/**
 * What a pipe asks after each item it emitted: `null` to go on pulling at once, or a promise to
 * wait for before the next read (the run's unwritten backlog is over its bound; the promise
 * resolves once it has drained). Rejecting it fails the pipe.
 */
export type PipeBackpressure = () => Promise<void> | null;

const noBackpressure: PipeBackpressure = () => null;

/**
 * Reads `source` item by item, hands each non-empty text item to `emit`, and resolves with the
 * concatenated text. Stops pulling and cancels the source when `signal` aborts, then rejects with
 * the signal's reason. After each item, `backpressure()` may hold the next read back (the source
 * is not pulled meanwhile; an abort still stops it at once).
 */
export function pipeSource(
  source: PipeSource,
  signal: AbortSignal,
  emit: (text: string) => void,
  backpressure: PipeBackpressure = noBackpressure,
): Promise<string> {
  // Not an async function: the pipe's own promise is returned as it is, without one more promise
  // (and one more pending await) per stream. Errors still arrive as rejections.
  try {
    const resolved = typeof source === "function" ? source() : source;
    if (resolved instanceof ReadableStream) return pipeReadable(resolved, signal, emit, backpressure);
    if (resolved !== null && typeof resolved === "object" && Symbol.asyncIterator in resolved) {
      return pipeIterable(resolved, signal, emit, backpressure);
    }
  } catch (error) {
    return Promise.reject(error);
  }
  return Promise.reject(
    new DurableError(
      "INVALID_STREAM_DATA",
      "stream.pipe(source): source must be a ReadableStream, an async iterable, or a function returning an async iterable (e.g. an async generator function).",
    ),
  );
}

function pipeReadable(
  readable: ReadableStream<Uint8Array | string>,
  signal: AbortSignal,
  emit: (text: string) => void,
  backpressure: PipeBackpressure,
): Promise<string> {
  const reader = readable.getReader();
  return pipeItems(
    () => reader.read(),
    (reason) => {
      reader.cancel(reason).catch(() => {});
    },
    () => reader.releaseLock(),
    signal,
    emit,
    backpressure,
  );
}

function pipeIterable(
  iterable: AsyncIterable<string | Uint8Array>,
  signal: AbortSignal,
  emit: (text: string) => void,
  backpressure: PipeBackpressure,
): Promise<string> {
  const iterator = iterable[Symbol.asyncIterator]();
  return pipeItems(
    () => iterator.next(),
    // Stop the source: an async generator runs its finally blocks, a custom iterator its return().
    () => {
      try {
        void Promise.resolve(iterator.return?.()).catch(() => {});
      } catch {
        // A throwing return() has nothing left to stop.
      }
    },
    () => {},
    signal,
    emit,
    backpressure,
  );
}

/**
 * The read loop of both pipes, driven by callbacks rather than `await`: it runs once per chunk, and
 * every await would cost promises and closures (and async-hook calls under `AsyncLocalStorage`).
 * Per item it costs the source's own read promise and one `then`. Settles once: with the text on
 * the source's end; with the signal's reason as soon as it aborts (the read in flight is not waited
 * for); with the error of a failed read, item or `emit`. Every way out except the end stops the
 * source. While `backpressure()` holds it back, no read is in flight: the source is not pulled.
 */
function pipeItems(
  read: () => Promise<IteratorResult<unknown>>,
  stop: (reason: unknown) => void,
  release: () => void,
  signal: AbortSignal,
  emit: (text: string) => void,
  backpressure: PipeBackpressure,
): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const decoder = new LazyDecoder();
    const parts = new TextAccumulator();
    let items = 0;
    let settled = false;
    const settle = (stopWith?: { reason: unknown }): void => {
      settled = true;
      signal.removeEventListener("abort", onAbort);
      if (stopWith !== undefined) stop(stopWith.reason); // before the release: a released reader cannot cancel
      release();
    };
    const fail = (error: unknown): void => {
      if (settled) return;
      settle({ reason: error });
      reject(error);
    };
    const onAbort = (): void => fail(signal.reason);
    const received = (step: IteratorResult<unknown>): void => {
      if (settled) return;
      try {
        if (step.done === true) {
          const rest = decoder.decode();
          if (rest !== "") {
            parts.add(rest);
            emit(rest);
          }
          settle();
          resolve(parts.text());
          return;
        }
        const text = toText(step.value, decoder);
        if (text !== "") {
          parts.add(text);
          emit(text);
        }
      } catch (error) {
        fail(error);
        return;
      }
      // The run's backlog is over its bound: pull again once it has drained.
      const drained = backpressure();
      if (drained !== null) {
        items = 0;
        drained.then(next, fail);
        return;
      }
      // A source that is always ready would otherwise never let timers and I/O run.
      if (++items % ITEMS_PER_TURN === 0) afterTurn(next);
      else next();
    };
    const next = (): void => {
      if (settled) return;
      let pending: Promise<IteratorResult<unknown>>;
      try {
        pending = read();
      } catch (error) {
        fail(error);
        return;
      }
      pending.then(received, fail);
    };
    if (signal.aborted) {
      fail(signal.reason);
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });
    next();
  });
}

/**
 * A UTF-8 decoder created on the first byte chunk: most pipes carry strings only, and every
 * `TextDecoder` holds native converter state for as long as its stream runs.
 */
class LazyDecoder {
  #decoder: TextDecoder | null = null;

  decode(bytes?: Uint8Array, options?: TextDecodeOptions): string {
    if (this.#decoder === null) {
      if (bytes === undefined) return "";
      this.#decoder = new TextDecoder();
    }
    return this.#decoder.decode(bytes, options);
  }
}

function toText(value: unknown, decoder: LazyDecoder): string {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) return decoder.decode(value, { stream: true });
  throw new DurableError(
    "INVALID_STREAM_DATA",
    `stream.pipe(source): every item must be a string or a Uint8Array, got ${value === null ? "null" : typeof value}. Use stream.push(data) for structured chunks.`,
  );
}
