export { DurableAiError, type DurableAiErrorCode } from "./errors.js";
export { durableChat } from "./chat/durable-chat.js";
export type { DurableChatFinishEvent, DurableChatOptions, DurableChatResult } from "./chat/durable-chat-options.js";
export type { ModelCallRecord, StoredFile, ToolApprovalRecord, ToolCallRecord } from "./chat/step-records.js";
export { chatApprovalEvent, type ChatApprovalDecision } from "./chat/chat-approval-event.js";
export { uiMessageApprovalHandler } from "./chat/ui-message-approval-handler.js";
export {
  uiMessageStreamHandler,
  type ChatStreamFailure,
  type UIMessageStreamHandlerOptions,
} from "./chat/ui-message-stream-handler.js";
export { uiMessageChatKey, uiMessageResumeHandler, type UIMessageResumeHandlerOptions } from "./chat/ui-message-resume-handler.js";
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
