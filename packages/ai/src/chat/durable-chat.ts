import { InvalidOptionsError, step, stream } from "@durastream/server";
import {
  convertToModelMessages,
  generateId,
  isStepCount,
  type LanguageModelUsage,
  type ModelMessage,
  type StepResult,
  type StopCondition,
  type ToolSet,
  type UIMessage,
  type UIMessageChunk,
} from "ai";
import type { DurableChatOptions, DurableChatResult } from "./durable-chat-options.js";
import { runModelCall } from "./model-call.js";
import { foldChunks } from "./response-message.js";
import { jsonSafe, type ModelCallRecord, type ToolApprovalRecord, type ToolCallRecord } from "./step-records.js";
import { responseMessagesOf, toStepResult, toolResultMessage, type StoredRound } from "./step-replay.js";
import { answersApprovals, collectContinuedApprovals, continuedApprovalRecord, refuseToolCall, type ContinuationInput } from "./approval-continuation.js";
import { approvalRequestChunks, approvalsConfigured, decideApprovals, type ApprovalSettings } from "./tool-approval.js";
import { denyToolCall, runToolCall, type StoredToolCall } from "./tool-call.js";
import { sumUsage } from "./usage.js";

/** How long a run waits for a user's approval by default. */
const DEFAULT_APPROVAL_TIMEOUT = "7d";
const DURATION = /^(?:\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w))+\s*$/i;

/** A duration `step.waitForEvent` accepts (its own check names the step, so check it here first). */
function isDuration(value: unknown): boolean {
  return typeof value === "number" ? Number.isFinite(value) && value >= 0 : typeof value === "string" && DURATION.test(value);
}

function validate(options: DurableChatOptions<ToolSet, UIMessage>): void {
  const invalid = (message: string): never => {
    throw new InvalidOptionsError(`durableChat: ${message}`);
  };
  if (typeof options !== "object" || options === null) invalid("pass the options, e.g. durableChat({ model, messages }).");
  if (options.model === undefined || options.model === null) invalid('"model" is required: a language model or a model id.');
  if (!Array.isArray(options.messages)) invalid('"messages" must be the UIMessage[] the client sent (useChat sends { id, messages }).');
  for (const key of ["prompt", "output", "experimental_steering", "streamRetries"]) {
    if ((options as Record<string, unknown>)[key] !== undefined) invalid(`"${key}" is not supported (yet).`);
  }
  const { toolApproval, approvalTimeout, experimental_toolApprovalSecret: secret } = options;
  if (toolApproval !== undefined && (typeof toolApproval !== "object" || toolApproval === null) && typeof toolApproval !== "function") {
    invalid('"toolApproval" must be a function or a map of tool names to approval statuses, as in streamText.');
  }
  if (approvalTimeout !== undefined && !isDuration(approvalTimeout)) {
    invalid(`"approvalTimeout" must be milliseconds >= 0 or a duration like "30m", "1d" or "7d", got ${JSON.stringify(approvalTimeout)}.`);
  }
  if (secret !== undefined && typeof secret !== "string" && !(secret instanceof Uint8Array)) {
    invalid('"experimental_toolApprovalSecret" must be a string or a Uint8Array.');
  }
}

/**
 * The tool calls of a model call that are answered on this side (not provider-executed), and of
 * those the ones durableChat runs: with valid input (`streamText` answers an invalid one with a
 * tool error, which goes to the next call) and not already answered.
 */
function toolCallsOf(model: ModelCallRecord): { count: number; toRun: StoredToolCall[] } {
  const answered = new Set(model.content.filter((part) => part.type === "tool-result" || part.type === "tool-error").map((part) => String(part.toolCallId)));
  const calls = model.content.filter((part) => part.type === "tool-call" && part.providerExecuted !== true);
  const toRun = calls
    .filter((part) => part.invalid !== true && !answered.has(String(part.toolCallId)))
    .map((part) => ({
      toolCallId: String(part.toolCallId),
      toolName: String(part.toolName),
      input: part.input,
      ...(part.dynamic === true ? { dynamic: true } : {}),
    }));
  return { count: calls.length, toRun };
}

async function isStopConditionMet<TOOLS extends ToolSet>(
  stopWhen: StopCondition<TOOLS> | Array<StopCondition<TOOLS>>,
  steps: StepResult<TOOLS>[],
): Promise<boolean> {
  const conditions = Array.isArray(stopWhen) ? stopWhen : [stopWhen];
  const results = await Promise.all(conditions.map((condition) => condition({ steps })));
  return results.some((result) => result);
}

/**
 * A durable AI SDK chat answer: the multi-step `streamText` loop, driven by Durastream steps.
 * Call it in a durable endpoint with the `UIMessage[]` that `useChat` sent, and return what it
 * resolves with:
 *
 * - step `message` stores the assistant message id (`generateMessageId`, or the id of the last
 *   message for a continuation) and pushes the `start` chunk;
 * - one step `llm:<n>` per model call: `streamText` for one step (tools passed without `execute`,
 *   `maxRetries: 0`, the attempt's signal) whose UI message chunks are pushed inside the step, so
 *   a failed attempt (a provider `error` part, a thrown error, a finish reason `"error"`) is rolled
 *   back and retried by the engine with its backoff, never by the AI SDK; errors a retry cannot
 *   fix (`APICallError` with `isRetryable: false`, e.g. a 400; a bad prompt; an unknown model)
 *   fail at once as a `NonRetriableError`;
 * - one step `tool:<toolCallId>` per tool execution: a tool whose step committed never runs again,
 *   not on a retry of a later call nor after a suspension or a crash; its output (or error) is
 *   pushed as `tool-output-available` (`tool-output-error`);
 * - tool approvals (`toolApproval`, the tools' deprecated `needsApproval`), as in `streamText`:
 *   step `approval:<toolCallId>` resolves a call's status once; `'approved'` / `'denied'` decide at
 *   once; for `'user-approval'` the run pushes a `tool-approval-request` (steps
 *   `approval-request:<toolCallId>`, all calls of the model call first) and waits durably for the
 *   decision (`approval-wait:<toolCallId>`, up to `approvalTimeout`, default `"7d"`; the run
 *   suspends and survives restarts), which `durable.send(chatApprovalEvent(…))` or the route of
 *   `uiMessageApprovalHandler` delivers. A denied (or timed-out) call is never run: it is
 *   answered with `tool-output-denied` and, for the model, `streamText`'s `execution-denied`;
 * - a continuation whose last message answers approvals (`approval-responded` tool parts, what
 *   `useChat` sends when no run waits for them) has them checked in step `approval-responses`
 *   (ids, tool calls and, with `experimental_toolApprovalSecret`, signatures from the messages;
 *   inputs against the tool schemas; the configuration again), then runs the approved tools and
 *   denies the others before the first model call, as `streamText` does;
 * - `stopWhen` (default `isStepCount(1)`, as in `streamText`) and `prepareStep` see the steps
 *   rebuilt from stored results, so every execution decides the same;
 * - step `finish` pushes the `finish` chunk and calls `onFinish` once with the final messages.
 *
 * The committed chunks form a valid AI SDK UI message stream. Resolves with a `Response` whose
 * JSON is {@link DurableChatResult} (`{ responseMessage, finishReason, usage, failedAttempts }`).
 * When a step fails for good, it rejects with the engine's `StepFailedError`.
 *
 * @example
 * ```ts
 * import { openai } from "@ai-sdk/openai";
 * import { createDurable } from "@durastream/server";
 * import { durableChat } from "@durastream/ai";
 * import { isStepCount, tool } from "ai";
 * import { z } from "zod";
 *
 * const durable = createDurable();
 *
 * export const POST = durable.endpoint(
 *   async (request) => {
 *     const { messages } = await request.json();
 *     return durableChat({
 *       model: openai("gpt-4o-mini"),
 *       system: "You are a helpful assistant.",
 *       messages,
 *       tools: {
 *         weather: tool({
 *           inputSchema: z.object({ city: z.string() }),
 *           execute: async ({ city }) => fetchWeather(city), // runs once, even when a later call is retried
 *         }),
 *       },
 *       toolApproval: { weather: "not-applicable" }, // e.g. { sendEmail: "user-approval" }
 *       stopWhen: isStepCount(5),
 *       onFinish: ({ messages }) => saveChat(messages), // once
 *     });
 *   },
 *   { id: "chat" },
 * );
 * ```
 */
export async function durableChat<TOOLS extends ToolSet = ToolSet, UI_MESSAGE extends UIMessage = UIMessage>(
  options: DurableChatOptions<TOOLS, UI_MESSAGE>,
): Promise<Response> {
  validate(options as unknown as DurableChatOptions<ToolSet, UIMessage>);
  const {
    messages,
    stopWhen = isStepCount(1),
    prepareStep,
    generateMessageId = generateId,
    sendReasoning,
    sendSources,
    onFinish,
    toolApproval,
    approvalTimeout = DEFAULT_APPROVAL_TIMEOUT,
    experimental_toolApprovalSecret: secret,
    ...settings
  } = options;
  const tools = settings.tools as ToolSet | undefined;
  const approvals: ApprovalSettings | undefined = approvalsConfigured(tools, toolApproval)
    ? { toolApproval: toolApproval as ApprovalSettings["toolApproval"], timeout: approvalTimeout, secret }
    : undefined;
  const lastMessage = messages.at(-1);
  const continued = lastMessage?.role === "assistant" ? lastMessage : undefined;
  const initialMessages = await convertToModelMessages(messages, { ...(tools === undefined ? {} : { tools }) });
  const instructions = settings.instructions ?? settings.system;

  const messageId = await step.run("message", () => {
    const messageId = continued?.id ?? generateMessageId();
    stream.push({ type: "start", messageId } satisfies UIMessageChunk);
    return messageId;
  });

  let toolsContext = (settings.toolsContext ?? {}) as Record<string, unknown>;
  let runtimeContext = (settings.runtimeContext ?? {}) as Record<string, unknown>;
  const rounds: StoredRound[] = [];
  const steps: StepResult<TOOLS>[] = [];
  const responseMessages: ModelMessage[] = [];
  // A continuation that answers approvals (what useChat sends with approval-responded tool parts
  // when no run waits for them): the approved tools run, the denied ones are denied, before the
  // first model call, as in streamText. Not StepResults: they belong to an earlier model call.
  const continuedRecords: ToolCallRecord[] = [];
  if (continued !== undefined && answersApprovals(initialMessages)) {
    const approvals = await step.run("approval-responses", () =>
      collectContinuedApprovals({
        messages: initialMessages,
        tools,
        toolApproval: toolApproval as ContinuationInput["toolApproval"],
        toolsContext,
        runtimeContext,
        secret,
        refineToolInput: settings.experimental_refineToolInput,
      }),
    );
    const unanswered: ToolCallRecord[] = [];
    for (const approval of approvals) {
      const { toolCallId, toolName, input, dynamic } = approval;
      const toolCall: StoredToolCall = { toolCallId, toolName, input, ...(dynamic === true ? { dynamic } : {}) };
      const record = await step.run(`tool:${toolCallId}`, (attempt) => {
        if (!approval.approved) return denyToolCall(toolCall, continuedApprovalRecord(approval), false);
        if (approval.invalid !== undefined) return refuseToolCall(approval);
        const tool = tools![toolName]!;
        const context = toolsContext[toolName];
        return runToolCall({ toolCall, tool, messages: initialMessages, context, approval: continuedApprovalRecord(approval) }, attempt);
      });
      continuedRecords.push(record);
      if (approval.answered !== true) unanswered.push(record);
    }
    const toolMessage = await toolResultMessage(tools, unanswered);
    if (toolMessage !== undefined) responseMessages.push(toolMessage);
  }
  for (let stepNumber = 0; ; stepNumber += 1) {
    const stepMessages = [...initialMessages, ...responseMessages];
    const prepared =
      prepareStep === undefined
        ? undefined
        : await prepareStep({
            steps: [...steps],
            stepNumber,
            model: settings.model,
            instructions,
            initialInstructions: instructions,
            messages: stepMessages,
            initialMessages,
            responseMessages: [...responseMessages] as never,
            toolsContext: toolsContext as never,
            runtimeContext,
          });
    if (prepared?.toolsContext !== undefined) toolsContext = prepared.toolsContext as Record<string, unknown>;
    if (prepared?.runtimeContext !== undefined) runtimeContext = prepared.runtimeContext;

    const failedUsage: { usage: LanguageModelUsage | undefined } = { usage: undefined };
    const model = await step.run(`llm:${stepNumber}`, (attempt) =>
      runModelCall(
        {
          stepNumber,
          settings: settings as never,
          sendReasoning,
          sendSources,
          messages: stepMessages,
          prepared: prepared as never,
          toolsContext,
          runtimeContext,
          failedUsage,
        },
        attempt,
      ),
    );

    const calls = toolCallsOf(model);
    const toolOf = (toolCall: StoredToolCall) => (tools !== undefined && Object.hasOwn(tools, toolCall.toolName) ? tools[toolCall.toolName] : undefined);
    // A client-side tool (no execute): useChat answers it and sends the messages again.
    const waitsForClient = calls.toRun.some((toolCall) => toolOf(toolCall)?.execute === undefined);
    const executed = calls.toRun.filter((toolCall) => toolOf(toolCall)?.execute !== undefined);
    const decisions =
      approvals === undefined || executed.length === 0
        ? new Map<string, ToolApprovalRecord>()
        : await decideApprovals({ calls: executed, tools, settings: approvals, messages: stepMessages, toolsContext, runtimeContext });
    const records: ToolCallRecord[] = [];
    for (const toolCall of executed) {
      const tool = toolOf(toolCall)!;
      const approval = decisions.get(toolCall.toolCallId);
      const context = toolsContext[toolCall.toolName];
      const record = await step.run(`tool:${toolCall.toolCallId}`, (attempt) =>
        approval?.approved === false
          ? denyToolCall(toolCall, approval, approval.isAutomatic !== true)
          : runToolCall(
              {
                toolCall,
                tool,
                messages: [...stepMessages, ...model.responseMessages],
                context,
                ...(approval === undefined ? {} : { approval, respond: approval.isAutomatic !== true }),
              },
              attempt,
            ),
      );
      // The answer's message also needs the request the approval steps pushed.
      records.push(approval === undefined ? record : { ...record, chunks: [...approvalRequestChunks(toolCall.toolCallId, approval), ...record.chunks] });
    }

    const round: StoredRound = { model, tools: records };
    rounds.push(round);
    steps.push(toStepResult<TOOLS>(round, { toolsContext, runtimeContext }));
    responseMessages.push(...(await responseMessagesOf(tools, [round])));
    if (calls.count === 0 || waitsForClient) break;
    if (await isStopConditionMet(stopWhen, steps)) break;
  }

  const finishReason = rounds.at(-1)?.model.finishReason ?? "other";
  const chunks: UIMessageChunk[] = [
    { type: "start", messageId },
    ...continuedRecords.flatMap((record) => record.chunks),
    ...rounds.flatMap((round) => [...round.model.chunks, ...round.tools.flatMap((tool) => tool.chunks)]),
    { type: "finish", finishReason: finishReason as never },
  ];
  const responseMessage = jsonSafe(await foldChunks(chunks, continued)); // as the Response carries it
  const conversation = (continued === undefined ? [...messages, responseMessage] : [...messages.slice(0, -1), responseMessage]) as UI_MESSAGE[];
  const usage = sumUsage(rounds.map((round) => round.model.usage));
  const failedAttempts = rounds.reduce((count, round) => count + round.model.failedAttempts.count, 0);
  const failedAttemptsUsage = sumUsage(rounds.map((round) => round.model.failedAttempts.usage));

  await step.run("finish", async () => {
    stream.push({ type: "finish", finishReason: finishReason as never } satisfies UIMessageChunk);
    await onFinish?.({
      messages: conversation,
      responseMessage: responseMessage as UI_MESSAGE,
      isContinuation: continued !== undefined,
      finishReason,
      usage,
      failedAttempts,
      failedAttemptsUsage,
      steps,
    });
    return null;
  });
  const result: DurableChatResult<UI_MESSAGE> = { responseMessage: responseMessage as UI_MESSAGE, finishReason, usage, failedAttempts };
  return Response.json(result);
}
