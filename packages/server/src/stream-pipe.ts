import type { PipeSource } from "./context.js";
import { DurableError } from "./errors.js";
import { nextTurn } from "./event-loop.js";
import { TextAccumulator } from "./text-accumulator.js";

/**
 * Items a pipe handles before it lets timers and I/O run. A source that is always ready (cached
 * text, a mock model) resolves every read in a microtask, so without this a pipe over it would
 * never let the event loop write to sockets or notice a closed connection.
 */
const ITEMS_PER_TURN = 256;

/**
 * Reads `source` item by item, hands each non-empty text item to `emit`, and resolves with the
 * concatenated text. Stops pulling and cancels the source when `signal` aborts, then rejects with
 * the signal's reason.
 */
export function pipeSource(source: PipeSource, signal: AbortSignal, emit: (text: string) => void): Promise<string> {
  // Not an async function: the pipe's own promise is returned as it is, without one more promise
  // (and one more pending await) per stream. Errors still arrive as rejections.
  try {
    const resolved = typeof source === "function" ? source() : source;
    if (resolved instanceof ReadableStream) return pipeReadable(resolved, signal, emit);
    if (resolved !== null && typeof resolved === "object" && Symbol.asyncIterator in resolved) {
      return pipeIterable(resolved, signal, emit);
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

async function pipeReadable(
  readable: ReadableStream<Uint8Array | string>,
  signal: AbortSignal,
  emit: (text: string) => void,
): Promise<string> {
  const reader = readable.getReader();
  const decoder = new LazyDecoder();
  const parts = new TextAccumulator();
  let items = 0;
  const onAbort = () => {
    reader.cancel(signal.reason).catch(() => {});
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (signal.aborted) throw signal.reason;
      if (done) break;
      const text = toText(value, decoder);
      if (text !== "") {
        parts.add(text);
        emit(text);
      }
      if (++items % ITEMS_PER_TURN === 0) await nextTurn();
    }
    const rest = decoder.decode();
    if (rest !== "") {
      parts.add(rest);
      emit(rest);
    }
    return parts.text();
  } catch (error) {
    if (!signal.aborted) reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    signal.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
}

async function pipeIterable(
  iterable: AsyncIterable<string | Uint8Array>,
  signal: AbortSignal,
  emit: (text: string) => void,
): Promise<string> {
  const iterator = iterable[Symbol.asyncIterator]();
  const decoder = new LazyDecoder();
  const parts = new TextAccumulator();
  let items = 0;
  let finished = false;
  // The abort is noted in a local flag: reading `signal.aborted` per item costs a brand check.
  let aborted = signal.aborted;
  // Settles the read in progress early when the run is cancelled. Not Promise.race against one
  // long-lived abort promise: every race would leave a reaction on it until the pipe ends.
  let abortRead: ((reason: unknown) => void) | null = null;
  const onAbort = () => {
    aborted = true;
    abortRead?.(signal.reason);
  };
  signal.addEventListener("abort", onAbort, { once: true });
  const settle = (resolve: (step: IteratorResult<string | Uint8Array>) => void, reject: (reason: unknown) => void): void => {
    abortRead = reject;
    iterator.next().then(resolve, reject);
  };
  try {
    for (;;) {
      if (aborted) throw signal.reason;
      const step = await new Promise(settle);
      if (step.done === true) {
        finished = true;
        break;
      }
      const text = toText(step.value, decoder);
      if (text !== "") {
        parts.add(text);
        emit(text);
      }
      if (++items % ITEMS_PER_TURN === 0) await nextTurn();
    }
    const rest = decoder.decode();
    if (rest !== "") {
      parts.add(rest);
      emit(rest);
    }
    return parts.text();
  } finally {
    abortRead = null;
    signal.removeEventListener("abort", onAbort);
    // Stop the source: an async generator runs its finally blocks, a custom iterator its return().
    if (!finished) void Promise.resolve(iterator.return?.()).catch(() => {});
  }
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
