export {
  createDurable,
  type CloseOptions,
  type Durable,
  type DurableLimits,
  type DurableOptions,
  type EndpointOptions,
  type WebHandler,
} from "./create-durable.js";
export type { BackgroundError, ErrorHandler, ErrorPhase } from "./background-errors.js";
export { acceptsEventStream } from "./event-stream.js";
export type { CorsOptions, ProxyOptions } from "./proxy.js";
export type { Duration } from "./duration.js";
export type { DurableContext, DurableHandler } from "./durable-run.js";
export {
  step,
  stream,
  type PipeSource,
  type StepAttempt,
  type StepFunction,
  type StepOptions,
  type StepTools,
  type StreamTools,
  type ReceivedEvent,
  type WaitForEventOptions,
} from "./context.js";
export { DurableError, NonRetriableError, StepFailedError, StoreRefusedError, type DurableErrorCode } from "./errors.js";
export type { Backoff, BackoffOptions, RetryPolicy } from "./retry-policy.js";
export type { Timers } from "./timers.js";
export { MemoryRunStore, type MemoryRunStoreOptions } from "./store/memory-store.js";
export { eventMatches } from "./store/event-match.js";
export { newRunRecord, storedTime } from "./store/new-run-record.js";
export { outsidePendingAfter, parseRollbackMarks, stringifyRollbackMarks } from "./store/quiet-point.js";
export { readRunSummary } from "./store/run-summary.js";
export type {
  AppendEffects,
  DurableEvent,
  FrameToAppend,
  LogEntry,
  NewRun,
  QuietPoint,
  RequestSnapshot,
  ResumableCursor,
  ResumableRun,
  RollbackMark,
  RunRecord,
  RunStatus,
  RunStore,
  RunSummary,
  StepKind,
  StepRecord,
  StoreErrorReason,
} from "./store/run-store.js";
