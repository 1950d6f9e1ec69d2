import {
  ProtocolError,
  compareOffsets,
  createFrameDecoder,
  parseOffset,
  type Frame,
  type Offset,
  type RedirectFrame,
  type ResultFrame,
} from "@durastream/protocol";
import { isAborted } from "./abort-signal.js";
import { invokeCallback } from "./callback-failure.js";
import { DurableClientError, type DurableClientErrorOptions } from "./errors.js";
import type { FetchWithStreamOptions } from "./fetch-with-stream-options.js";
import { resolveUrl } from "./resolve-url.js";

/**
 * What a stream has delivered so far, carried from one connection to the next (redirects and
 * reconnects) so that callbacks see one continuous sequence of frames.
 */
export interface StreamCursor {
  /** The run whose metadata was reported through `onMetadata`, once one was. */
  runId: string | undefined;
  /** The offset of the last log frame delivered; frames at or before it are skipped. */
  offset: string | undefined;
  /** Where to reconnect: the resume URL of the latest metadata frame (absolute), if any. */
  resumeUrl: string | undefined;
}

/**
 * The cursor's position as `DurableClientError` options, so an error tells where to resume.
 */
export function positionOf(cursor: StreamCursor): Pick<DurableClientErrorOptions, "offset" | "resumeUrl"> {
  return { offset: cursor.offset, resumeUrl: cursor.resumeUrl };
}

/**
 * How a connection ended normally: with the run's result, or with a redirect to follow.
 */
export type ConnectionEnd = { readonly type: "result"; readonly frame: ResultFrame } | { readonly type: "redirect"; readonly frame: RedirectFrame };

/** Decoder problems that do not make the stream untrustworthy. */
const WARNING_CODES: ReadonlySet<string> = new Set(["UNKNOWN_EVENT", "UNKNOWN_FIELD"]);

/**
 * Reads one connection's SSE body, calling the frame callbacks of `options` in order, until the
 * result or a redirect frame. Skips log frames at or before the last one applied (initially
 * `cursor.offset`: the frames a replaying server sends again, and any duplicate or backward
 * offset later in the connection) and advances the cursor; a skipped result frame still ends the
 * connection with that result. When `sameRun` is set (a reconnect to a
 * resume URL), metadata naming a run other than `cursor.runId` is a `PROTOCOL` error.
 *
 * The body is cancelled whenever reading stops early. Throws the signal's reason on abort, a
 * `CallbackFailure` when a callback throws, and a `DurableClientError` (`NETWORK`, `PROTOCOL` or
 * `STREAM_ENDED`) when the stream fails.
 */
export async function readConnection(
  response: Response,
  url: string,
  cursor: StreamCursor,
  options: FetchWithStreamOptions,
  signal: AbortSignal | undefined,
  sameRun: boolean,
): Promise<ConnectionEnd> {
  const body = response.body;
  if (isAborted(signal)) {
    void body?.cancel(signal?.reason).catch(ignore);
    throw signal?.reason;
  }
  if (body === null) throw streamEnded(url, cursor);

  const { onMetadata, onData, onCommit, onRollback, onResult, onWarning } = options;
  let sawMetadata = false;
  // The offset of the last log frame applied (or the resume offset): a log frame at or before it is
  // a replay or a duplicate and is skipped, whether it comes at the start of the connection or later
  // (PROTOCOL.md, Redirect and resume). One comparison per frame, no lookup.
  let lastApplied: Offset | undefined = cursor.offset === undefined ? undefined : parseOffset(cursor.offset);
  let end: ConnectionEnd | undefined;
  let failure: unknown;
  let failed = false;

  const deliver = (frame: Frame): void => {
    if (frame.type === "metadata") {
      sawMetadata = true;
      const resumeUrl = frame.resumeUrl === null ? undefined : resolveUrl(frame.resumeUrl, url);
      if (frame.runId === cursor.runId) {
        // Same run: a resume URL it names replaces the one known; none leaves that one standing.
        if (resumeUrl !== undefined) cursor.resumeUrl = resumeUrl;
        return;
      }
      if (cursor.runId !== undefined) {
        if (sameRun) {
          throw protocolError(
            url,
            new ProtocolError(
              "INVALID_FRAME",
              `The resume URL answered with run ${frame.runId}, but the stream belongs to run ${cursor.runId}; a resume URL must stay on its run. Check that the wait endpoint (durable.waitEndpoint()) is mounted at that URL.`,
            ),
            cursor,
          );
        }
        // A different run (after a redirect): its offsets say nothing about the previous run's frames.
        lastApplied = undefined;
        cursor.offset = undefined;
        cursor.resumeUrl = resumeUrl;
      } else if (resumeUrl !== undefined) {
        // The first metadata; keep the URL resumeStream was given when the server names none.
        cursor.resumeUrl = resumeUrl;
      }
      cursor.runId = frame.runId;
      invokeCallback(onMetadata, {
        runId: frame.runId,
        protocolVersion: frame.protocolVersion,
        resumeUrl: cursor.resumeUrl ?? null,
        offset: cursor.offset ?? null,
      });
      return;
    }
    if (!sawMetadata) {
      throw protocolError(
        url,
        new ProtocolError(
          "INVALID_FRAME",
          `A "${frame.type}" frame arrived before the connection's metadata frame; every Durastream connection starts with one.`,
        ),
        cursor,
      );
    }
    if (frame.type === "redirect") {
      end = { type: "redirect", frame };
      return;
    }
    const offset = parseOffset(frame.offset);
    if (lastApplied !== undefined && compareOffsets(offset, lastApplied) <= 0) {
      // The result frame again, at or before the resume offset: the client resumed at (or past) the
      // end of a finished run and has everything already. The connection ends with the result,
      // without delivering the frame a second time.
      if (frame.type === "result") end = { type: "result", frame };
      return;
    }
    lastApplied = offset;
    cursor.offset = frame.offset;
    // The frames themselves carry exactly the callback arguments: pass them on without copying.
    switch (frame.type) {
      case "data":
        invokeCallback(onData, frame);
        return;
      case "commit":
        invokeCallback(onCommit, frame);
        return;
      case "rollback":
        invokeCallback(onRollback, frame);
        return;
      case "result":
        invokeCallback(onResult, frame);
        end = { type: "result", frame };
        return;
    }
  };

  const decoder = createFrameDecoder({
    onFrame(frame) {
      if (end !== undefined || failed || isAborted(signal)) return;
      try {
        deliver(frame);
      } catch (error) {
        failed = true;
        failure = error;
      }
    },
    onError(error) {
      if (end !== undefined || failed || isAborted(signal)) return;
      try {
        if (WARNING_CODES.has(error.code)) invokeCallback(onWarning, error);
        else throw protocolError(url, error, cursor);
      } catch (caught) {
        failed = true;
        failure = caught;
      }
    },
  });

  const reader = body.getReader();
  let finished = false;
  const onAbort = (): void => {
    void reader.cancel(signal?.reason).catch(ignore);
  };
  signal?.addEventListener("abort", onAbort);
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (cause) {
        if (isAborted(signal)) throw signal?.reason;
        finished = true; // an errored stream cannot be cancelled
        throw new DurableClientError("NETWORK", `Reading the stream from ${url} failed. Check the network connection and retry.`, {
          cause,
          url,
          ...positionOf(cursor),
        });
      }
      if (isAborted(signal)) throw signal?.reason;
      if (chunk.done) {
        finished = true;
        decoder.end();
      } else {
        decoder.feed(chunk.value);
      }
      if (failed) throw failure;
      if (isAborted(signal)) throw signal?.reason;
      if (end !== undefined) return end;
      if (finished) throw streamEnded(url, cursor);
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    if (!finished) void reader.cancel(isAborted(signal) ? signal?.reason : undefined).catch(ignore);
  }
}

function protocolError(url: string, cause: ProtocolError, cursor: StreamCursor): DurableClientError {
  return new DurableClientError(
    "PROTOCOL",
    `The stream from ${url} is not a valid Durastream stream (${cause.code}): ${cause.message} Make sure the endpoint is served by @durastream/server, and upgrade client and server packages together.`,
    { cause, url, ...positionOf(cursor) },
  );
}

function streamEnded(url: string, cursor: StreamCursor): DurableClientError {
  return new DurableClientError(
    "STREAM_ENDED",
    cursor.resumeUrl === undefined
      ? `The stream from ${url} closed before the run's result arrived, and the server offered no resume URL to read it again. Retry the request.`
      : `The stream from ${url} closed before the run's result arrived. The run may still be going on: read it again with resumeStream(error.resumeUrl, { offset: error.offset }).`,
    { url, ...positionOf(cursor) },
  );
}

function ignore(): void {}
