export { fetchWithStream, DEFAULT_MAX_REDIRECTS } from "./fetch-with-stream.js";
export { resumeStream } from "./resume-stream.js";
export { cancelRun, type CancelRunInit } from "./cancel-run.js";
export { DEFAULT_RECONNECT } from "./reconnect-policy.js";
export type {
  FetchFunction,
  FetchWithStreamOptions,
  ReconnectAttempt,
  ReconnectOptions,
  ResumeStreamOptions,
  StepCommit,
  StepRollback,
  StreamChunk,
  StreamMetadata,
  StreamRedirect,
  StreamResult,
} from "./fetch-with-stream-options.js";
export { createDurableStream } from "./durable-stream.js";
export { isActiveStatus } from "./durable-stream-status.js";
export { throttleSnapshots, type ThrottledSnapshots } from "./throttled-snapshots.js";
export type { ChunkList } from "./chunk-list.js";
export type {
  DurableStream,
  DurableStreamOptions,
  DurableStreamPosition,
  DurableStreamResult,
  DurableStreamSnapshot,
  DurableStreamStatus,
  DurableStreamStorage,
  UncommittedStep,
} from "./durable-stream-types.js";
export { DurableClientError, type DurableClientErrorCode, type DurableClientErrorOptions } from "./errors.js";
export {
  DurastreamError,
  InvalidOptionsError,
  ProtocolError,
  type BackoffOptions,
  type HashedStepId,
  type ProtocolErrorCode,
  type RedirectReason,
  type ResponseSnapshot,
  type WireError,
} from "@durastream/protocol";
