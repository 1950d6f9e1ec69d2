export { fetchWithStream, DEFAULT_MAX_REDIRECTS } from "./fetch-with-stream.js";
export { resumeStream } from "./resume-stream.js";
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
} from "./fetch-with-stream-options.js";
export { DurableClientError, type DurableClientErrorCode, type DurableClientErrorOptions } from "./errors.js";
export { ProtocolError, type HashedStepId, type ProtocolErrorCode, type RedirectReason, type WireError } from "@durastream/protocol";
