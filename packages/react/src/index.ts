export { useDurableStream, type UseDurableStreamOptions, type UseDurableStreamResult } from "./use-durable-stream.js";
export type {
  ChunkList,
  DurableStream,
  DurableStreamOptions,
  DurableStreamPosition,
  DurableStreamResult,
  DurableStreamSnapshot,
  DurableStreamStatus,
  DurableStreamStorage,
  UncommittedStep,
} from "@durastream/client";
