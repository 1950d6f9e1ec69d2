// @durastream/ai/client: the browser side of durable chats. Imports no server code (see
// client-imports.test.ts): only @durastream/client, @durastream/protocol, @ai-sdk/provider's
// errors, types of `ai`, and the UI chunk projection shared with uiMessageStreamHandler.
export type { DurableChatState } from "./chat-response.js";
export {
  createDurableChatTransport,
  type DurableChatTransport,
  type DurableChatTransportOptions,
  type Resolvable,
} from "./durable-chat-transport.js";
export { sendToolApproval, type SendToolApprovalInit, type ToolApprovalDecision } from "./send-tool-approval.js";
export { cancelRun, type CancelRunInit } from "@durastream/client";
