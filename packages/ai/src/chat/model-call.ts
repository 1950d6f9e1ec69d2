import { stream, type StepAttempt } from "@durastream/server";
import {
  isStepCount,
  streamText,
  toUIMessageStream,
  type LanguageModelUsage,
  type ModelMessage,
  type PrepareStepResult,
  type StepResult,
  type ToolSet,
  type UIMessageChunk,
} from "ai";
import { DurableAiError } from "../errors.js";
import type { DurableChatOptions } from "./durable-chat-options.js";
import { toModelStepError } from "./model-errors.js";
import { toModelCallRecord, type ModelCallRecord } from "./step-records.js";
import { addUsage } from "./usage.js";

/** Everything one model call needs, computed by the loop from stored data. */
export interface ModelCallInput {
  readonly stepNumber: number;
  /** The `streamText` settings of the run (model, system, tools, call settings, …). */
  readonly settings: Omit<
    DurableChatOptions,
    | "messages"
    | "stopWhen"
    | "prepareStep"
    | "onFinish"
    | "generateMessageId"
    | "sendReasoning"
    | "sendSources"
    | "toolApproval"
    | "approvalTimeout"
    | "experimental_toolApprovalSecret"
  >;
  readonly sendReasoning: boolean | undefined;
  readonly sendSources: boolean | undefined;
  /** The prompt: the request's messages and the responses and tool results of earlier calls. */
  readonly messages: ModelMessage[];
  /** What `prepareStep` returned for this call (evaluated once per execution, outside the step). */
  readonly prepared: PrepareStepResult<ToolSet> | undefined;
  readonly toolsContext: unknown;
  readonly runtimeContext: unknown;
  /** Usage of failed attempts of this call seen by this process, added to by a failing attempt. */
  readonly failedUsage: { usage: LanguageModelUsage | undefined };
}

/**
 * The tools as the model sees them, without `execute` (and approval settings): `streamText` then
 * parses tool calls and stops, and `durableChat` runs each tool in its own step.
 */
function withoutExecute(tools: ToolSet | undefined): ToolSet | undefined {
  if (tools === undefined) return undefined;
  const described: ToolSet = {};
  for (const [name, tool] of Object.entries(tools)) {
    const { execute: _execute, needsApproval: _needsApproval, ...rest } = tool as ToolSet[string] & { needsApproval?: unknown };
    described[name] = rest as ToolSet[string];
  }
  return described;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * One model call: the body of the `llm:<n>` step. Runs `streamText` for a single step
 * (`isStepCount(1)`, tools without `execute`, `maxRetries: 0`, the attempt's signal), pushes the UI
 * message chunks (`start-step`, `text-*`, `reasoning-*`, `tool-input-*`, …, `finish-step`) with
 * `stream.push`, so they are tagged with the step and committed or rolled back with it, and
 * resolves with the JSON record of the call. A provider `error` part, a thrown error, an abort or
 * a finish reason `"error"` rejects (a `NonRetriableError` for errors a retry cannot fix), so the
 * engine rolls the attempt back. Internal.
 */
export async function runModelCall(input: ModelCallInput, attempt: StepAttempt): Promise<ModelCallRecord> {
  const { settings, prepared } = input;
  let failure: { error: unknown } | undefined;
  const result = streamText({
    ...(settings as Record<string, unknown>),
    model: settings.model,
    tools: withoutExecute(settings.tools),
    messages: input.messages,
    toolsContext: input.toolsContext as never,
    runtimeContext: input.runtimeContext as never,
    stopWhen: isStepCount(1),
    maxRetries: 0,
    abortSignal: attempt.signal,
    ...(prepared === undefined ? {} : { prepareStep: () => prepared }),
    // A provider error part or a failed call: the step fails (and the default onError would log it).
    onError: ({ error }: { error: unknown }) => {
      failure ??= { error };
    },
  });

  const chunks: UIMessageChunk[] = [];
  const uiChunks = toUIMessageStream({
    stream: result.stream,
    sendStart: false,
    sendFinish: false,
    ...(input.sendReasoning === undefined ? {} : { sendReasoning: input.sendReasoning }),
    ...(input.sendSources === undefined ? {} : { sendSources: input.sendSources }),
    // The text of tool errors (e.g. an input that fails the tool's schema), which are answers, not failures.
    onError: errorText,
  });
  // streamText runs ahead of this loop (onError may already have fired): the chunks before the
  // error chunk are still pushed, in order, and rolled back with the attempt.
  let ended = false;
  for await (const chunk of uiChunks as unknown as AsyncIterable<UIMessageChunk>) {
    // An error or abort chunk is not part of the answer: the step fails instead.
    if (chunk.type === "error" || chunk.type === "abort") ended = true;
    if (ended || attempt.signal.aborted) continue;
    chunks.push(chunk);
    stream.push(chunk);
    await stream.ready;
  }
  if (attempt.signal.aborted) throw attempt.signal.reason;

  const steps = await Promise.resolve(result.steps).catch((): StepResult<ToolSet>[] => []);
  const [stepResult] = steps;
  if (failure === undefined && (ended || stepResult?.finishReason === "error")) {
    failure = {
      error: new DurableAiError(
        "MODEL_STREAM_ERROR",
        'The model call did not finish: it was aborted (e.g. the streamText timeout) or ended with the finish reason "error".',
      ),
    };
  }
  if (failure !== undefined || stepResult === undefined) {
    if (stepResult !== undefined) input.failedUsage.usage = addUsage(input.failedUsage.usage, stepResult.usage);
    throw toModelStepError(failure?.error ?? new DurableAiError("MODEL_STREAM_ERROR", "The model call ended without a result."));
  }
  const response = await result.response;
  return toModelCallRecord(input.stepNumber, stepResult, response.messages, chunks, {
    count: attempt.attempt - 1,
    ...(input.failedUsage.usage === undefined ? {} : { usage: input.failedUsage.usage }),
  });
}
