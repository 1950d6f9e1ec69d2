import { createParser, type ParseError } from "eventsource-parser";
import { DataFrameFastPath } from "./data-frame-fast-path.js";
import { ProtocolError } from "./errors.js";
import { PROTOCOL_VERSION, type BodyEncoding, type Frame, type HashedStepId, type RedirectReason, type ResponseSnapshot, type WireError } from "./frames.js";
import { isOffset, parseOffset } from "./offset.js";
import { createUtf8ChunkDecoder } from "./utf8-chunk-decoder.js";

/**
 * One server-sent event as an SSE parser hands it out: its `event` name (absent for the default
 * `message`), its `id` (the frame's offset; absent for frames outside the log) and its `data`.
 */
export interface SseMessage {
  readonly event?: string | undefined;
  readonly id?: string | undefined;
  readonly data: string;
}

/** Callbacks of a frame decoder. */
export interface FrameDecoderCallbacks {
  /** Called for every well-formed frame, in stream order. */
  onFrame: (frame: Frame) => void;
  /**
   * Called for every problem, which is never thrown. Codes `MALFORMED_FRAME`, `INVALID_FRAME`,
   * `INVALID_OFFSET` and `UNSUPPORTED_VERSION` mean the stream cannot be trusted; `UNKNOWN_EVENT` (a
   * frame type from a newer protocol) and `UNKNOWN_FIELD` (an SSE field this protocol does not use)
   * can be ignored.
   */
  onError?: (error: ProtocolError) => void;
  /** Called for SSE comments, such as keep-alives. */
  onComment?: (comment: string) => void;
}

/** Turns SSE bytes or text, split anywhere, into typed frames. */
export interface FrameDecoder {
  /** Feeds the next chunk: bytes (UTF-8, may split a character) or already decoded text. */
  feed(chunk: Uint8Array | string): void;
  /** Flushes a pending partial UTF-8 sequence at the end of the stream. */
  end(): void;
  /** Forgets partial input, for reading a new stream (e.g. after a reconnect). */
  reset(): void;
}

const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const BYTE_ORDER_MARK = 0xfeff;
const KNOWN_EVENTS: ReadonlySet<string> = new Set(["metadata", "data", "commit", "rollback", "redirect", "result"]);
const REDIRECT_REASONS: ReadonlySet<string> = new Set(["sleep", "wait-for-event", "retry", "max-duration", "shutdown"]);

/**
 * Creates a streaming frame decoder on top of `eventsource-parser`. Data frames written the way
 * the encoder writes them take a fast path (see `DataFrameFastPath`) that gives the same frames
 * as `decodeEvent` at about half the cost, and bytes are decoded without `TextDecoder`'s slow
 * stream mode (see `createUtf8ChunkDecoder`), with the same result.
 *
 * @example
 * ```ts
 * const decoder = createFrameDecoder({
 *   onFrame: (frame) => console.log(frame.type),
 *   onError: (error) => console.error(error.code, error.message),
 * });
 * for await (const chunk of response.body!) decoder.feed(chunk);
 * decoder.end();
 * ```
 */
export function createFrameDecoder(callbacks: FrameDecoderCallbacks): FrameDecoder {
  const { onFrame, onError, onComment } = callbacks;
  // Keeps a BOM, which is stripped below for bytes and text alike.
  const utf8 = createUtf8ChunkDecoder();
  // True until the first character of the stream has been seen (it may be a BOM to drop).
  let atStreamStart = true;
  // True when the last text fed ended with CR: an LF at the start of the next chunk belongs to that CRLF.
  let skipLeadingLineFeed = false;
  // Data frames as the encoder writes them, nearly every frame of a stream, skip most of the work
  // of `decodeEvent`; anything else, or anything odd, goes through it.
  const dataFrames = new DataFrameFastPath();
  const parser = createParser({
    onEvent(message) {
      const dataFrame = message.event === "data" ? dataFrames.decode(message.id, message.data) : undefined;
      if (dataFrame !== undefined) {
        onFrame(dataFrame);
        return;
      }
      let frame: Frame;
      try {
        frame = decodeEvent(message);
      } catch (error) {
        onError?.(ProtocolError.isInstance(error) ? error : new ProtocolError("MALFORMED_FRAME", String(error), { cause: error, raw: message.data }));
        return;
      }
      onFrame(frame);
    },
    onError(error: ParseError) {
      // Unknown SSE fields and bad `retry:` values are legal SSE that we do not use: report, do not fail.
      onError?.(new ProtocolError("UNKNOWN_FIELD", `Ignored SSE line: ${error.message}`, { cause: error, raw: error.line }));
    },
    onComment: onComment === undefined ? undefined : (comment) => onComment(comment),
  });
  function feedText(text: string): void {
    if (skipLeadingLineFeed && text.charCodeAt(0) === LINE_FEED) {
      text = text.slice(1);
      skipLeadingLineFeed = false;
    }
    if (atStreamStart && text !== "") {
      atStreamStart = false;
      if (text.charCodeAt(0) === BYTE_ORDER_MARK) text = text.slice(1);
    }
    if (text === "") return;
    // A CR ends a line on its own. eventsource-parser holds a chunk-final CR back until it sees
    // whether an LF follows, so the last event of a CR-only stream would never be dispatched; end
    // the line now (as CRLF) and drop the LF if the next chunk starts with one.
    skipLeadingLineFeed = text.charCodeAt(text.length - 1) === CARRIAGE_RETURN;
    parser.feed(skipLeadingLineFeed ? `${text}\n` : text);
  }
  return {
    feed(chunk) {
      feedText(typeof chunk === "string" ? chunk : utf8.decode(chunk));
    },
    end() {
      feedText(utf8.end());
    },
    reset() {
      utf8.reset();
      atStreamStart = true;
      skipLeadingLineFeed = false;
      parser.reset();
    },
  };
}

/**
 * Decodes one parsed SSE message into a frame. Throws a `ProtocolError` when the message is not a
 * well-formed Durastream frame.
 *
 * @example
 * ```ts
 * decodeEvent({ event: "commit", id: "1-4", data: '{"step":null}' });
 * // { type: "commit", offset: "1-4", hashedStepId: null }
 * ```
 */
export function decodeEvent(message: SseMessage): Frame {
  const { id, data } = message;
  const event = message.event ?? "message";
  // Checked before the data, so a frame type from a newer protocol is ignorable whatever it carries.
  if (!KNOWN_EVENTS.has(event)) {
    throw new ProtocolError("UNKNOWN_EVENT", `Unknown SSE event "${event}"; it was ignored.`, { raw: data });
  }
  let payload: unknown;
  try {
    payload = JSON.parse(data);
  } catch (cause) {
    throw new ProtocolError("MALFORMED_FRAME", `The "${event}" event does not carry JSON data.`, {
      cause,
      raw: data,
    });
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw invalid(event, "its data is not a JSON object", data);
  }
  const body = payload as Record<string, unknown>;
  switch (event) {
    case "data":
      if (!("data" in body)) throw invalid(event, 'it has no "data" field', data);
      return { type: "data", offset: requireOffset(event, id, data), hashedStepId: stepOf(event, body, data), data: body.data };
    case "commit":
      return { type: "commit", offset: requireOffset(event, id, data), hashedStepId: stepOf(event, body, data) };
    case "rollback": {
      const attempt = body.attempt;
      if (typeof attempt !== "number" || !Number.isInteger(attempt) || attempt < 1) {
        throw invalid(event, '"attempt" is not a whole number >= 1', data);
      }
      if (typeof body.willRetry !== "boolean") throw invalid(event, '"willRetry" is not a boolean', data);
      return {
        type: "rollback",
        offset: requireOffset(event, id, data),
        hashedStepId: stepOf(event, body, data),
        attempt,
        willRetry: body.willRetry,
        error: wireError(event, body.error, data),
      };
    }
    case "result": {
      if (body.status !== "succeeded" && body.status !== "failed") {
        throw invalid(event, '"status" is neither "succeeded" nor "failed"', data);
      }
      return {
        type: "result",
        offset: requireOffset(event, id, data),
        status: body.status,
        response: responseSnapshot(event, body.response, data),
      };
    }
    case "metadata": {
      // The version comes first: a newer protocol may shape the rest of the frame differently.
      if (body.version !== PROTOCOL_VERSION) {
        throw new ProtocolError(
          "UNSUPPORTED_VERSION",
          `The server speaks Durastream protocol version ${String(body.version)}, this client speaks ${PROTOCOL_VERSION}. Upgrade the client and server packages together.`,
          { raw: data },
        );
      }
      if (typeof body.runId !== "string" || body.runId === "") throw invalid(event, '"runId" is missing', data);
      if (body.resumeUrl !== null && typeof body.resumeUrl !== "string") {
        throw invalid(event, '"resumeUrl" is neither a string nor null', data);
      }
      return { type: "metadata", runId: body.runId, protocolVersion: body.version, resumeUrl: body.resumeUrl };
    }
    case "redirect":
      if (typeof body.url !== "string" || body.url === "") throw invalid(event, '"url" is missing', data);
      if (typeof body.reason !== "string" || !REDIRECT_REASONS.has(body.reason)) {
        throw invalid(event, `"reason" is not one of ${[...REDIRECT_REASONS].join(", ")}`, data);
      }
      return { type: "redirect", url: body.url, reason: body.reason as RedirectReason };
    default:
      throw new ProtocolError("UNKNOWN_EVENT", `Unknown SSE event "${event}"; it was ignored.`, { raw: data });
  }
}

function invalid(event: string, problem: string, raw: string): ProtocolError {
  return new ProtocolError("INVALID_FRAME", `Invalid "${event}" frame: ${problem}.`, { raw });
}

function requireOffset(event: string, id: string | undefined, raw: string): string {
  if (id === undefined || id === "") {
    throw invalid(event, "it has no offset (SSE id field); every log frame must carry one", raw);
  }
  if (!isOffset(id)) parseOffset(id); // throws the INVALID_OFFSET error
  return id;
}

function stepOf(event: string, body: Record<string, unknown>, raw: string): HashedStepId {
  const step = body.step;
  if (step === null || (typeof step === "string" && step !== "")) return step;
  throw invalid(event, '"step" is neither a hashed step id nor null', raw);
}

function wireError(event: string, value: unknown, raw: string): WireError {
  if (typeof value !== "object" || value === null) throw invalid(event, '"error" is not an object', raw);
  const { name, message } = value as Record<string, unknown>;
  if (typeof name !== "string" || typeof message !== "string") {
    throw invalid(event, '"error" needs string "name" and "message"', raw);
  }
  return { name, message };
}

function responseSnapshot(event: string, value: unknown, raw: string): ResponseSnapshot {
  if (typeof value !== "object" || value === null) throw invalid(event, '"response" is not an object', raw);
  const { status, statusText, headers, body, bodyEncoding } = value as Record<string, unknown>;
  if (typeof status !== "number" || !Number.isInteger(status) || status < 200 || status > 599) {
    throw invalid(event, '"response.status" is not an HTTP status from 200 to 599', raw);
  }
  if (typeof statusText !== "string") throw invalid(event, '"response.statusText" is not a string', raw);
  if (
    !Array.isArray(headers) ||
    !headers.every((pair) => Array.isArray(pair) && pair.length === 2 && typeof pair[0] === "string" && typeof pair[1] === "string")
  ) {
    throw invalid(event, '"response.headers" is not a list of [name, value] string pairs', raw);
  }
  if (typeof body !== "string") throw invalid(event, '"response.body" is not a string', raw);
  if (bodyEncoding !== "text" && bodyEncoding !== "base64") {
    throw invalid(event, '"response.bodyEncoding" is neither "text" nor "base64"', raw);
  }
  return { status, statusText, headers: headers as [string, string][], body, bodyEncoding: bodyEncoding as BodyEncoding };
}
