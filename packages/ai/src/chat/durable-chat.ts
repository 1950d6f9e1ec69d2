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
import { jsonSafe, type ModelCallRecord, type ToolCallRecord } from "./step-records.js";
import { responseMessagesOf, toStepResult, type StoredRound } from "./step-replay.js";
import { runToolCall, type StoredToolCall } from "./tool-call.js";
import { sumUsage } from "./usage.js";

function validate(options: DurableChatOptions<ToolSet, UIMessage>): void {
  const invalid = (message: string): never => {
    throw new InvalidOptionsError(`durableChat: ${message}`);
  };
  if (typeof options !== "object" || options === null) invalid("pass the options, e.g. durableChat({ model, messages }).");
  if (options.model === undefined || options.model === null) invalid('"model" is required: a language model or a model id.');
  if (!Array.isArray(options.messages)) invalid('"messages" must be the UIMessage[] the client sent (useChat sends { id, messages }).');
  for (const key of ["prompt", "toolApproval", "output", "experimental_steering", "streamRetries"]) {
    if ((options as Record<string, unknown>)[key] !== undefined) invalid(`"${key}" is not supported (yet).`);
  }
  for (const [name, tool] of Object.entries(options.tools ?? {})) {
    const needsApproval = (tool as { needsApproval?: unknown }).needsApproval;
    if (needsApproval !== undefined && needsApproval !== false) {
      invalid(`tool "${name}" needs approval; approvals are not supported yet, and durableChat would run the tool without one.`);
    }
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
  const { messages, stopWhen = isStepCount(1), prepareStep, generateMessageId = generateId, sendReasoning, sendSources, onFinish, ...settings } = options;
  const tools = settings.tools as ToolSet | undefined;
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
    const records: ToolCallRecord[] = [];
    let waitsForClient = false;
    for (const toolCall of calls.toRun) {
      const tool = tools !== undefined && Object.hasOwn(tools, toolCall.toolName) ? tools[toolCall.toolName] : undefined;
      if (tool?.execute === undefined) {
        waitsForClient = true; // a client-side tool: useChat answers it and sends the messages again
        continue;
      }
      const context = toolsContext[toolCall.toolName];
      records.push(
        await step.run(`tool:${toolCall.toolCallId}`, (attempt) =>
          runToolCall({ toolCall, tool, messages: [...stepMessages, ...model.responseMessages], context }, attempt),
        ),
      );
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
