import type { Duration } from "@durastream/server";
import type { IdGenerator, LanguageModelUsage, PrepareStepFunction, StepResult, StopCondition, streamText, ToolSet, UIMessage } from "ai";

/** The options object of `streamText` for a tool set. */
type StreamTextOptions<TOOLS extends ToolSet> = Parameters<typeof streamText<TOOLS>>[0];

/**
 * The `streamText` options `durableChat` passes through to every model call. Not among them: the
 * prompt (`messages` are UI messages here), retries and aborts (the engine's), the loop callbacks
 * it runs itself (`stopWhen`, `prepareStep`, `onFinish`, the approval options), and what this
 * version does not support (structured output, steering, stream retries, concurrent tools).
 */
type PassedOptions =
  | "model"
  | "system"
  | "instructions"
  | "allowSystemInMessages"
  | "tools"
  | "toolChoice"
  | "activeTools"
  | "toolOrder"
  | "toolsContext"
  | "runtimeContext"
  | "providerOptions"
  | "headers"
  | "timeout"
  | "maxOutputTokens"
  | "temperature"
  | "topP"
  | "topK"
  | "presencePenalty"
  | "frequencyPenalty"
  | "stopSequences"
  | "seed"
  | "reasoning"
  | "repairToolCall"
  | "experimental_refineToolInput"
  | "experimental_transform"
  | "experimental_download"
  | "telemetry"
  | "include"
  | "onChunk"
  | "onStepStart"
  | "onStepEnd"
  | "onLanguageModelCallStart"
  | "onLanguageModelCallEnd";

/**
 * What {@link durableChat} passes to `onFinish` once the answer is complete (inside the `finish`
 * step, so exactly once per run as far as the engine is concerned).
 *
 * @example
 * ```ts
 * const onFinish = async ({ messages, responseMessage, usage }: DurableChatFinishEvent) => {
 *   await db.chats.save(chatId, messages); // upsert: keyed by message id
 *   console.log(responseMessage.id, usage.totalTokens);
 * };
 * ```
 */
export interface DurableChatFinishEvent<UI_MESSAGE extends UIMessage = UIMessage, TOOLS extends ToolSet = ToolSet> {
  /** The conversation: the request's messages with the answer appended (or updated, for a continuation). */
  readonly messages: UI_MESSAGE[];
  /** The assistant message of this answer, built from the committed chunks of every step. */
  readonly responseMessage: UI_MESSAGE;
  /** True when the answer continues the request's last (assistant) message instead of adding one. */
  readonly isContinuation: boolean;
  /** The finish reason of the last model call (`"stop"`, `"tool-calls"`, `"length"`, …). */
  readonly finishReason: string;
  /** Token usage of the committed model calls, summed over the run. */
  readonly usage: LanguageModelUsage;
  /** Model calls that failed and were retried (counted from the engine's attempt numbers). */
  readonly failedAttempts: number;
  /** Usage of the failed attempts, when their provider reported it (kept in memory: lost across a suspension or takeover). */
  readonly failedAttemptsUsage: LanguageModelUsage;
  /** Every model call as the AI SDK's `StepResult`, rebuilt from stored data. */
  readonly steps: StepResult<TOOLS>[];
}

/**
 * The JSON body of the `Response` {@link durableChat} resolves with (and so the run's result: a
 * client that resumes a finished run gets it).
 *
 * @example
 * ```ts
 * const response = await fetchWithStream("/api/chat", { fetchOpts: { method: "POST", body } });
 * const { responseMessage, usage }: DurableChatResult = await response.json();
 * ```
 */
export interface DurableChatResult<UI_MESSAGE extends UIMessage = UIMessage> {
  readonly responseMessage: UI_MESSAGE;
  readonly finishReason: string;
  readonly usage: LanguageModelUsage;
  readonly failedAttempts: number;
}

/**
 * Options of {@link durableChat}: the options of `streamText` (`model`, `system`, `tools`,
 * `toolChoice`, `activeTools`, `stopWhen`, `prepareStep`, `maxOutputTokens`, `temperature`,
 * `providerOptions`, `headers`, `timeout`, `toolsContext`, `runtimeContext`, …) with the
 * conversation as AI SDK UI messages, plus the `toUIMessageStream` options that shape the chunks.
 *
 * Not accepted: `prompt` (use `messages`), `maxRetries` / `streamRetries` / `abortSignal` (retries
 * and cancellation are the engine's: each model call runs with `maxRetries: 0`, so the AI SDK never
 * retries inside an attempt, and with its step attempt's signal), `onError` / `onEnd` / `onAbort`
 * (see `onFinish`), `output`, `experimental_steering` and `toolCallConcurrency` (tools run one
 * after the other). Callbacks such as `onChunk` or `onStepEnd` run on every attempt of a model
 * call, not once.
 *
 * Tool approvals: `toolApproval` (as in `streamText`) and the tools' deprecated `needsApproval`
 * decide which calls need one; a call that needs a user's decision waits for it durably (the run
 * suspends, up to `approvalTimeout`), see `approvalTimeout` and `chatApprovalEvent`.
 *
 * @example
 * ```ts
 * const options: DurableChatOptions = {
 *   model: openai("gpt-4o-mini"),
 *   system: "You are a helpful assistant.",
 *   messages,
 *   tools: { weather },
 *   stopWhen: isStepCount(5),
 *   onFinish: ({ messages }) => saveChat(chatId, messages),
 * };
 * ```
 */
export type DurableChatOptions<TOOLS extends ToolSet = ToolSet, UI_MESSAGE extends UIMessage = UIMessage> = Pick<StreamTextOptions<TOOLS>, PassedOptions> & {
  /**
   * Which tool calls need an approval, as in `streamText`: a function of the call, or a map of
   * tool names to `'approved'` / `'denied'` / `'user-approval'` / `'not-applicable'` (or
   * `{ type, reason }`, or a function of the input). Takes precedence over the tools' deprecated
   * `needsApproval`. Resolved once per call, in step `approval:<toolCallId>` (so a replay decides
   * the same). `'approved'` runs the tool and `'denied'` denies it at once (the UI gets an automatic
   * request and its response); `'user-approval'` pushes a `tool-approval-request` and waits
   * durably for the decision that `durable.send(chatApprovalEvent(…))` (or the route of
   * `uiMessageApprovalHandler`) delivers; the answer then goes on. Applies to the tools this side
   * executes (with `execute`); client-side tools are answered by the client as before.
   */
  toolApproval?: StreamTextOptions<TOOLS>["toolApproval"];
  /**
   * How long a call waits for a user's approval: milliseconds or a duration such as `"30m"`,
   * `"1d"`. Default `"7d"`. The run is suspended meanwhile (it costs no process) and survives
   * restarts; when the time is up the call is denied with a reason that says so (the model gets
   * an `execution-denied` result), and the answer goes on.
   */
  approvalTimeout?: Duration;
  /**
   * Signs each approval request (HMAC, the `signature` of the `tool-approval-request` chunk), as
   * in `streamText`. Approvals delivered to a waiting run never need it (the run holds the
   * request); it protects the continuation request (a `POST` whose last message is the assistant
   * message with answered approvals), whose tool inputs come from the client.
   */
  experimental_toolApprovalSecret?: string | Uint8Array;
  /** The conversation so far, as `useChat` sends it. A last assistant message is continued (same id). */
  messages: UI_MESSAGE[];
  /**
   * When to stop after a model call whose tools all ran: evaluated over the stored steps, so a
   * re-execution decides the same. Default `isStepCount(1)`, as in `streamText`.
   */
  stopWhen?: StopCondition<NoInfer<TOOLS>> | Array<StopCondition<NoInfer<TOOLS>>>;
  /**
   * Settings for one model call, as in `streamText`; called once per model call and execution with
   * the stored steps so far (the same on a retry of the call and after a replay).
   */
  prepareStep?: PrepareStepFunction<NoInfer<TOOLS>>;
  /** Makes the assistant message id (stored in the run's first step). Default: the AI SDK's `generateId`. */
  generateMessageId?: IdGenerator;
  /** Send reasoning chunks (default true), as in `toUIMessageStream`. */
  sendReasoning?: boolean;
  /** Send source chunks (default false), as in `toUIMessageStream`. */
  sendSources?: boolean;
  /**
   * Called once, in the run's `finish` step, with the final messages and the usage. Persist the
   * conversation here. If it throws, the step is retried (so make it idempotent, e.g. an upsert
   * keyed by message id); a process that dies inside it runs it again.
   */
  onFinish?: (event: DurableChatFinishEvent<UI_MESSAGE, TOOLS>) => unknown;
};
