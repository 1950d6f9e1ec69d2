/**
 * The version of the wire protocol described in PROTOCOL.md. Sent in every metadata frame; a client
 * refuses a stream with a version it does not know.
 */
export const PROTOCOL_VERSION = 1;

/** The SSE `Content-Type` of every Durastream stream. */
export const EVENT_STREAM_CONTENT_TYPE = "text/event-stream";

/** Response header that carries the run id on every response of a durable endpoint. */
export const RUN_ID_HEADER = "x-durastream-run-id";

/** SSE event names, one per frame type. */
export type FrameType = "metadata" | "data" | "commit" | "rollback" | "redirect" | "result";

/** Frame types stored in a run's log; each carries an offset (the SSE `id:`). */
export type LogFrameType = "data" | "commit" | "rollback" | "result";

/** Hex SHA-1 of a step id (see `hashStepId`), or `null` for output streamed outside any step. */
export type HashedStepId = string | null;

/** First frame of every connection. Not part of the log: it has no offset. */
export interface MetadataFrame {
  readonly type: "metadata";
  readonly runId: string;
  readonly protocolVersion: number;
  /** Where to reconnect to read this run's log again, or null when the server offers no resume URL. */
  readonly resumeUrl: string | null;
}

/** One chunk from `stream.push` or one item of `stream.pipe`. Uncommitted until its step commits. */
export interface DataFrame {
  readonly type: "data";
  readonly offset: string;
  readonly hashedStepId: HashedStepId;
  readonly data: unknown;
}

/** The step's output is persisted: every data frame it streamed is final. */
export interface CommitFrame {
  readonly type: "commit";
  readonly offset: string;
  readonly hashedStepId: HashedStepId;
}

/** Name and message of an error, as sent over the wire. */
export interface WireError {
  readonly name: string;
  readonly message: string;
}

/** A step attempt failed: discard the uncommitted data frames of that step. */
export interface RollbackFrame {
  readonly type: "rollback";
  readonly offset: string;
  readonly hashedStepId: HashedStepId;
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  /** Whether the step will be attempted again. */
  readonly willRetry: boolean;
  readonly error: WireError;
}

/** Why a connection was redirected. */
export type RedirectReason = "sleep" | "wait-for-event" | "retry" | "max-duration" | "shutdown";

/** This connection ends here; continue reading the log at `url`. Not part of the log. */
export interface RedirectFrame {
  readonly type: "redirect";
  readonly url: string;
  readonly reason: RedirectReason;
}

/** How a response body travels in a result frame. */
export type BodyEncoding = "text" | "base64";

/** An HTTP response captured exactly: status, every header (in order, repeats kept) and body. */
export interface ResponseSnapshot {
  readonly status: number;
  readonly statusText: string;
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  readonly body: string;
  readonly bodyEncoding: BodyEncoding;
}

/**
 * The request a run was started with, kept with the run (not sent on the wire) so a re-executed
 * handler sees the same request. Its body is encoded as a `ResponseSnapshot`'s is.
 */
export interface RequestSnapshot {
  readonly method: string;
  readonly url: string;
  /** The allow-listed headers, in order. */
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  /** The body, or null when there was none. */
  readonly body: string | null;
  readonly bodyEncoding: BodyEncoding;
}

/** The run is over. Always the last frame of a log. */
export interface ResultFrame {
  readonly type: "result";
  readonly offset: string;
  readonly status: "succeeded" | "failed";
  readonly response: ResponseSnapshot;
}

/** Any Durastream frame. */
export type Frame = MetadataFrame | DataFrame | CommitFrame | RollbackFrame | RedirectFrame | ResultFrame;

/** The frames that live in a run's log. */
export type LogFrame = DataFrame | CommitFrame | RollbackFrame | ResultFrame;

/** A frame without its offset: what a frame's JSON payload is made of. */
export type FramePayload = Frame extends infer F ? (F extends Frame ? Omit<F, "offset"> : never) : never;
