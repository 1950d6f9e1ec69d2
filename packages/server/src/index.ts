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
export type { CorsOptions, WaitEndpointOptions } from "./wait-endpoint.js";
export type { Duration } from "./duration.js";
export type { DurableContext, DurableHandler } from "./run-types.js";
export type { RunKeyFunction } from "./run-keys.js";
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
export { DurableError, NonRetriableError, StepFailedError, type DurableErrorCode } from "./errors.js";
export { DurastreamError, InvalidOptionsError, ProtocolError } from "@durastream/protocol";
export type { Backoff, BackoffOptions, RetryPolicy } from "./retry-policy.js";
export type { Timers } from "./timers.js";
export { MemoryRunStore, type MemoryRunStoreOptions } from "./store/memory-store.js";
// The type of `DurableOptions.store`, for apps that hold a store of any kind. Everything a store
// author needs (records, StoreRefusedError, helpers) is in "@durastream/server/store".
export type { DurableEvent, RunStore } from "./store/run-store.js";
