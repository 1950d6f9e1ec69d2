import { encodeFrame, KEEP_ALIVE_COMMENT, type MetadataFrame, type RedirectReason } from "@durastream/protocol";
import { encodeEvent } from "@durastream/protocol/internal";
import type { ReportError } from "./background-errors.js";
import { StoreRefusedError } from "./errors.js";
import { batchAfter, READ_BATCH, READ_MAX_BYTES, RunTails, type TailBatch, type TailMembership } from "./run-tail.js";
import type { LogEntry, RunStore } from "./store/run-store.js";
import { readRunSummary } from "./store/run-summary.js";
import type { TextBodySink, TextBodySource } from "./text-body.js";
import type { Timers } from "./timers.js";

/** Options of a log stream. */
export interface LogStreamOptions {
  readonly store: RunStore;
  readonly runId: string;
  /** Replay strictly after this offset; from the start when undefined. */
  readonly after: string | undefined;
  /** Sent first. */
  readonly metadata: MetadataFrame;
  readonly timers: Timers;
  /** Milliseconds of silence before a keep-alive comment. */
  readonly keepAliveInterval: number;
  /** Called once when the reader goes away before the result frame. */
  readonly onCancel?: (reason: unknown) => void;
  /** Where failed log reads are reported; they are retried while the connection lasts. */
  readonly report?: ReportError;
  /** The process's live connections, which a shutdown redirects (reason `shutdown`). */
  readonly live?: LiveStreams;
  /**
   * The process's shared tails of `store` (see `run-tail.ts`): the connections of one run that are
   * caught up share one store read per append. Default: `live.tails`; without either, this
   * connection reads the store on its own.
   */
  readonly tails?: RunTails;
  /**
   * Where to send the client when this connection must end before the result: when `onSwitch`
   * reports that the run switched to the background, or after `maxDuration` ms. Frames already in
   * the log are sent first, then a redirect frame, then the stream closes.
   */
  readonly redirect?: {
    readonly url: string;
    readonly onSwitch?: (listener: (reason: RedirectReason) => void) => () => void;
    readonly maxDuration: number;
  };
}

const encoder = new TextEncoder();

/** Longest pause between retries of a failed log read, ms. */
const MAX_READ_RETRY_DELAY = 2_000;

/** A live connection, as a shutdown sees it. */
export interface LiveConnection {
  /** Send what the log has, then a redirect frame with `reason`, then end. */
  redirect(reason: RedirectReason): void;
  /** End now (the shutdown grace is over). */
  end(): void;
}

/**
 * The live connections of one `createDurable`: at shutdown each is redirected, and those still
 * open after a grace period are ended, so `server.close()` can complete. Given the store, it also
 * carries the process's shared tails of it (`tails`), which its log streams use by default.
 */
export class LiveStreams {
  /** The shared tails of the store's runs, for the log streams registered here. */
  readonly tails: RunTails | undefined;
  readonly #connections = new Set<LiveConnection>();
  #closed = false;
  #emptied: (() => void) | null = null;

  constructor(store?: RunStore) {
    this.tails = store === undefined ? undefined : new RunTails(store);
  }

  /** Registers a connection; returns its remover. Once shut down, redirects it at once. */
  add(connection: LiveConnection): () => void {
    if (this.#closed) {
      connection.redirect("shutdown");
      return () => {};
    }
    this.#connections.add(connection);
    return () => {
      this.#connections.delete(connection);
      if (this.#connections.size === 0) this.#emptied?.();
    };
  }

  /** Redirects every connection; waits up to `grace` ms for them to end, then ends the rest. */
  async shutdown(grace: number, timers: Timers): Promise<void> {
    this.#closed = true;
    for (const connection of [...this.#connections]) connection.redirect("shutdown");
    if (this.#connections.size > 0) {
      let timer: unknown;
      await new Promise<void>((resolve) => {
        this.#emptied = resolve;
        timer = timers.setTimeout(resolve, grace);
      });
      timers.clearTimeout(timer);
      this.#emptied = null;
    }
    for (const connection of [...this.#connections]) connection.end();
  }
}

/**
 * One run's log as SSE text: the metadata frame, every frame after `after`, then live frames as
 * they are appended, until the result frame. Read it as a Web stream (`stream`) or, in the Node
 * adapter, as text pieces pushed to a sink (`source`); whichever is read first owns it. Frames are
 * read from the store only when the reader has room, so a slow client holds back reads instead of
 * piling frames up in memory; frames appended together go out as one piece. A connection that has
 * caught up with the log joins its run's shared tail (`tails`, see `run-tail.ts`) and gets the
 * frames of the one read the process makes per append; when it falls behind it reads on its own.
 */
export function createLogStream(options: LogStreamOptions): { readonly stream: ReadableStream<Uint8Array>; readonly source: TextBodySource } {
  const source = createLogSource(options);
  let started = false;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (started) {
          source.resume();
          return;
        }
        started = true;
        source.start({
          write(text) {
            controller.enqueue(encoder.encode(text));
            return (controller.desiredSize ?? 0) > 0;
          },
          end: () => controller.close(),
          error: (error) => controller.error(error),
        });
      },
      cancel(reason) {
        source.cancel(reason);
      },
    },
    // Nothing is read ahead: a piece is taken from the log only when the reader asks for one, so a
    // body sent as text instead never has a piece taken by the stream.
    { highWaterMark: 0 },
  );
  return { stream, source };
}

/**
 * The log as a push source; see {@link createLogStream}. A small state machine driven by
 * callbacks rather than an async loop: this runs for every chunk of every open stream, and each
 * await would cost promises (and async-hook calls under `AsyncLocalStorage`).
 *
 * It reads the store on its own until a read finds nothing new, then joins the run's shared tail
 * (`joined`): from then on the tail's reads feed it (`deliver`), until a batch comes while its sink
 * is still full, a redirect is due or a shared read fails; then it leaves the tail and reads on its
 * own again.
 */
function createLogSource(options: LogStreamOptions): TextBodySource {
  const { store, runId, timers, keepAliveInterval, onCancel } = options;
  let sink: TextBodySink | null = null;
  let cursor = options.after;
  /** Something was appended since the last read started. */
  let appended = true;
  let done = false;
  /** The sink is full; waiting for `resume()`. */
  let paused = false;
  /** A read from the store is in flight. */
  let reading = false;
  /** Nothing to send; waiting for an append, a switch or a keep-alive. */
  let idle = false;
  /** Caught up and fed by the run's shared tail (idle meanwhile); no reads of its own. */
  let joined = false;
  /** An append woke the stream; the read waits for the running job's microtasks. */
  let wakeScheduled = false;
  let redirectReason: RedirectReason | null = null;
  /**
   * The client resumed after an offset and this connection has read no frame yet: when a read finds
   * nothing, the offset may be at or past the end of a finished run (see `checkEnded`). Set again by
   * each append, since the run may finish between the check and the next read.
   */
  let endUnchecked = options.after !== undefined;
  let readAny = false;

  /** Sends a piece; false when the sink asked to pause. */
  const send = (text: string): boolean => {
    lastSent = timers.now();
    if (sink!.write(text)) return true;
    paused = true;
    return false;
  };
  const finish = (text: string): void => {
    close();
    sink!.write(text);
    sink!.end();
  };
  const readSoon = (): void => {
    wakeScheduled = false;
    pump();
  };
  /** Leaves the shared tail to read on its own (its sink filled up, or it must redirect). */
  const leaveTail = (): void => {
    joined = false;
    idle = false;
    membership.leave();
  };
  const wake = (): void => {
    if (!idle) return;
    if (joined) leaveTail();
    idle = false;
    pump();
  };

  // Registered as a reader of the run's tail, which holds the run's one store subscription.
  const tails = options.tails ?? options.live?.tails ?? new RunTails(store);
  const membership: TailMembership = tails.open(runId, {
    appended() {
      appended = true;
      if (!readAny) endUnchecked = options.after !== undefined;
      // Read once the running job's microtasks are done, so appends that follow at once (a commit
      // right after a batch) are read together. Not a macrotask later: the writer already gathers a
      // turn's chunks into one append, and on a busy server each extra turn adds latency to every chunk.
      if (idle && !wakeScheduled) {
        idle = false;
        wakeScheduled = true;
        queueMicrotask(readSoon);
      }
    },
    deliver,
    failed(error) {
      joined = false;
      idle = false;
      failed(error);
    },
  });
  const switchTo = (reason: RedirectReason) => {
    redirectReason ??= reason;
    wake();
  };
  const stopSwitchListener = options.redirect?.onSwitch?.(switchTo);
  const stopLive = options.live?.add({
    redirect: switchTo,
    end: () => {
      if (done) return;
      close();
      if (sink !== null) sink.end();
      else onCancel?.("shutdown");
    },
  });
  /** Pause before the next retry of a failed read, ms. */
  let retryDelay = 0;
  let retryTimer: unknown;
  const maxDuration = options.redirect?.maxDuration ?? Number.POSITIVE_INFINITY;
  const durationTimer = Number.isFinite(maxDuration) ? timers.setTimeout(() => switchTo("max-duration"), maxDuration) : undefined;
  // One keep-alive timer per connection, re-armed lazily: a busy stream does not set and clear a
  // timer for every batch it sends.
  let lastSent = timers.now();
  let keepAliveDue = false;
  let keepAliveTimer: unknown;
  const armKeepAlive = (delay: number) => {
    keepAliveTimer = timers.setTimeout(() => {
      if (done) return;
      const idleFor = timers.now() - lastSent;
      if (idleFor >= keepAliveInterval) {
        if (joined) {
          // Caught up: the tail sends what comes; nothing to read before the keep-alive (and none
          // while the sink is still full: the connection is not silent then).
          if (!paused) send(KEEP_ALIVE_COMMENT);
        } else {
          keepAliveDue = true;
          // While a failed read waits for its retry, the keep-alive goes out on its own.
          if (retryTimer !== undefined && sink !== null && !paused) {
            keepAliveDue = false;
            send(KEEP_ALIVE_COMMENT);
          }
          wake();
        }
        armKeepAlive(keepAliveInterval);
      } else {
        armKeepAlive(keepAliveInterval - idleFor);
      }
    }, delay);
  };
  armKeepAlive(keepAliveInterval);
  const close = () => {
    done = true;
    joined = false;
    membership.close();
    stopSwitchListener?.();
    stopLive?.();
    if (retryTimer !== undefined) timers.clearTimeout(retryTimer);
    if (durationTimer !== undefined) timers.clearTimeout(durationTimer);
    timers.clearTimeout(keepAliveTimer);
  };

  /** Reads what the log has after the cursor, unless a read is running, the sink is full or the tail feeds it. */
  function pump(): void {
    if (done || paused || reading || wakeScheduled || joined || sink === null) return;
    reading = true;
    appended = false;
    store.readFrames(runId, cursor, READ_BATCH, READ_MAX_BYTES).then(received, failed);
  }

  function received(entries: readonly LogEntry[]): void {
    reading = false;
    retryDelay = 0;
    if (done) return;
    if (entries.length > 0) {
      readAny = true;
      endUnchecked = false;
      let text = "";
      let bytes = 0;
      for (const entry of entries) {
        text += encodeEvent(entry.type, entry.offset, entry.payload);
        if (entry.type === "result") {
          finish(text);
          return;
        }
        bytes += entry.payload.length;
      }
      cursor = entries[entries.length - 1]!.offset;
      if (!send(text)) return;
      // A full batch may have more behind it, and an append during the read may have added some;
      // otherwise the read saw everything there is.
      if (entries.length >= READ_BATCH || bytes >= READ_MAX_BYTES || appended) pump();
      else settle();
      return;
    }
    if (appended) pump();
    else if (endUnchecked) checkEnded();
    else settle();
  }

  /** Frames of the shared tail's read (this connection is caught up and joined). */
  function deliver(batch: TailBatch): void {
    if (done || !joined) return;
    // The sink has not taken the previous piece yet: this connection falls behind, leaves the fan-out
    // and reads these frames itself once the sink drains, so nothing piles up for a slow client.
    if (paused) {
      leaveTail();
      return;
    }
    let { text, last, ended } = batch;
    if (batch.after !== cursor) {
      // Joined while the tail's read was behind this connection's: only the frames after its cursor.
      const rest = batchAfter(batch, cursor);
      if (rest.last === undefined) return;
      ({ text, last, ended } = rest);
    }
    readAny = true;
    endUnchecked = false;
    cursor = last;
    if (ended) {
      finish(text);
      return;
    }
    // A full sink takes this piece and keeps its place until the next batch comes (see above): a
    // reader that keeps up, like a Web stream's (which pauses after every piece), costs no reads.
    send(text);
  }

  /**
   * The read after the client's offset found nothing and no frame was sent yet: when the run is
   * over, that offset is at or past its result frame, and nothing will ever be appended. Send the
   * result frame again (with its own offset) and close, so the client ends with its result instead
   * of waiting for keep-alives forever (PROTOCOL.md, Redirect and resume).
   */
  function checkEnded(): void {
    endUnchecked = false;
    reading = true;
    findResult().then(
      (result) => {
        reading = false;
        if (done) return;
        if (result !== undefined) finish(encodeEvent(result.type, result.offset, result.payload));
        else if (appended) pump();
        else settle();
      },
      (error: unknown) => {
        endUnchecked = true; // the retried read checks again
        failed(error);
      },
    );
  }

  /** The run's result frame when it is over, else undefined. */
  async function findResult(): Promise<LogEntry | undefined> {
    const record = await readRunSummary(store, runId);
    if (record === undefined || record.result === undefined || record.frameCount === 0) return undefined;
    // The result frame is the last of the log, written in the run's last epoch, and sequences count
    // the frames: it is `<epoch>-<frameCount>`, the one frame strictly after `<epoch>-<frameCount - 1>`.
    const [last] = await store.readFrames(runId, `${record.epoch}-${record.frameCount - 1}`, 1);
    if (last?.type === "result") return last;
    // A store that numbers differently: walk the log to its end.
    let cursor: string | undefined;
    let found: LogEntry | undefined;
    for (;;) {
      const entries = await store.readFrames(runId, cursor, READ_BATCH, READ_MAX_BYTES);
      if (entries.length === 0) return found?.type === "result" ? found : undefined;
      found = entries[entries.length - 1];
      cursor = found!.offset;
    }
  }

  /**
   * Nothing new in the log: redirect, send a due keep-alive, or wait — fed by the shared tail once
   * this connection may join it (a client resuming after an offset joins once it got a frame, so
   * an offset past the end is still checked after each append; see `checkEnded`).
   */
  function settle(): void {
    if (redirectReason !== null && options.redirect !== undefined) {
      finish(encodeFrame({ type: "redirect", url: options.redirect.url, reason: redirectReason }));
      return;
    }
    if (keepAliveDue) {
      keepAliveDue = false;
      if (!send(KEEP_ALIVE_COMMENT)) return;
    }
    idle = true;
    if (!readAny && options.after !== undefined) return;
    if (membership.join(cursor)) joined = true;
    else wake(); // the tail has read further than this connection: read on
  }

  function failed(error: unknown): void {
    reading = false;
    if (done) return;
    // The run is gone (expired, unknown): nothing more will come.
    if (StoreRefusedError.isInstance(error)) {
      close();
      sink!.error(error);
      return;
    }
    // The store is failing: keep the connection (keep-alives go on) and read again later, so a
    // store outage does not cut every live client off.
    options.report?.("log-read", error, runId);
    retryDelay = Math.min(MAX_READ_RETRY_DELAY, retryDelay === 0 ? 100 : retryDelay * 2);
    reading = true; // nothing else starts a read meanwhile
    retryTimer = timers.setTimeout(() => {
      retryTimer = undefined;
      reading = false;
      if (!done) pump();
    }, retryDelay);
  }

  return {
    start(target) {
      if (sink !== null) throw new Error("This log stream has been started already.");
      sink = target;
      if (done) return;
      if (!send(encodeFrame(options.metadata))) return;
      pump();
    },
    resume() {
      if (!paused) return;
      paused = false;
      // Joined: nothing is pending, the tail feeds the connection. Otherwise whatever was pending
      // when the sink filled up is still to be read or settled.
      if (!joined && !reading) pump();
    },
    cancel(reason) {
      if (done) return;
      close();
      onCancel?.(reason);
    },
  };
}
