export {
  useDurableStream,
  type UseDurableStreamInstanceOptions,
  type UseDurableStreamOptions,
  type UseDurableStreamResult,
} from "./use-durable-stream.js";
export { isActiveStatus } from "@durastream/client";
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
