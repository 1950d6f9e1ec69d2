export { DurableAiError, type DurableAiErrorCode } from "./errors.js";
export type { AnyLanguageModel, ModelCallOptions, ModelStreamPart, ModelUsage } from "./language-model.js";
export { lastUserText } from "./last-user-text.js";
export {
  createMockModel,
  type MockFailure,
  type MockLanguageModel,
  type MockModelOptions,
  type MockSpecificationVersion,
} from "./mock-model.js";
export {
  pipeModel,
  type ModelStepResult,
  type PipeModelOptions,
  type ReasoningChunk,
  type ToolCallChunk,
} from "./pipe-model.js";
