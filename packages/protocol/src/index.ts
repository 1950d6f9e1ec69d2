export { DurastreamError, InvalidOptionsError, ProtocolError, type ProtocolErrorCode } from "./errors.js";
export {
  EVENT_STREAM_CONTENT_TYPE,
  PROTOCOL_VERSION,
  RUN_ID_HEADER,
  type BodyEncoding,
  type CommitFrame,
  type DataFrame,
  type Frame,
  type FramePayload,
  type FrameType,
  type HashedStepId,
  type LogFrame,
  type LogFrameType,
  type MetadataFrame,
  type RedirectFrame,
  type RedirectReason,
  type RequestSnapshot,
  type ResponseSnapshot,
  type ResultFrame,
  type RollbackFrame,
  type WireError,
} from "./frames.js";
export { START_OFFSET, compareOffsets, formatOffset, isOffset, parseOffset, type Offset } from "./offset.js";
export { hashStepId } from "./step-id.js";
export { KEEP_ALIVE_COMMENT, encodeComment, encodeFrame, encodeFramePayload } from "./encode.js";
export {
  createFrameDecoder,
  decodeEvent,
  type FrameDecoder,
  type FrameDecoderCallbacks,
  type SseMessage,
} from "./decode.js";
export {
  responseFromSnapshot,
  snapshotResponse,
  type ResponseFromSnapshotOptions,
  type SnapshotResponseOptions,
} from "./response-snapshot.js";
export type { Backoff, BackoffOptions } from "./backoff.js";
