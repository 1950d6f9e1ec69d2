// The playground's durable "agent": step "outline", an optional sleep, step "answer", both streamed
// from the deterministic mock model of @durastream/ai. Every fault it injects comes from the
// request body, which the run stores, so a re-execution (after a sleep, a retry redirect or a
// worker crash) sees the same faults.
import { createMockModel, pipeModel, type ModelStepResult } from "@durastream/ai";
import { StepFailedError, type DurableHandler } from "@durastream/server";
import { SEPARATOR, answerText, outlineText, parseRunRequest, type RunResult, type StepName } from "./run-request.js";

export interface AgentOptions {
  /**
   * Called when a `killWorker` fault is reached: the worker asks its supervisor to SIGKILL it.
   * The step then hangs until the process dies.
   */
  requestKill(reason: string): void;
  /** One line per step attempt, for the console. */
  log?(line: string): void;
}

/** The durable handler of POST /api/run. */
export function createAgentHandler(options: AgentOptions): DurableHandler {
  return async (request, { step, stream }) => {
    const run = parseRunRequest(await request.json().catch(() => ({})));
    const policy = { retries: run.retries, backoff: () => run.retryDelayMs };

    const streamStep = (name: StepName, text: (prompt: string) => string, system: string) =>
      step.run({ id: name, ...policy }, async ({ attempt, signal }): Promise<ModelStepResult> => {
        options.log?.(`step ${name}, attempt ${attempt}`);
        const failure = run.failures.find((candidate) => candidate.step === name && candidate.attempt === attempt);
        const model = createMockModel({
          text,
          tokenDelayMs: run.tokenDelayMs,
          failures: failure
            ? [{ call: 1, afterTokens: failure.afterTokens, message: `Injected failure: ${name} attempt ${attempt} after ${failure.afterTokens} tokens` }]
            : [],
        });
        const kill = run.killWorker !== null && run.killWorker.step === name && attempt === 1 ? run.killWorker.afterTokens : null;
        return pipeModel(kill === null ? model : killAfterTokens(model, kill, () => options.requestKill(`${name} attempt ${attempt} after ${kill} tokens`)), {
          call: {
            prompt: [
              { role: "system", content: system },
              { role: "user", content: [{ type: "text", text: run.prompt }] },
            ],
          },
          signal,
        });
      });

    const outline = await streamStep("outline", outlineText, "Outline an answer in one line.");
    stream.push(SEPARATOR); // outside any step: committed at the next step boundary
    if (run.sleepSeconds > 0) await step.sleep("pause", `${run.sleepSeconds}s`);
    let answer: ModelStepResult;
    try {
      answer = await streamStep("answer", answerText, `Answer following this outline: ${outline.text}`);
    } catch (error) {
      if (StepFailedError.isInstance(error)) {
        return Response.json({ error: `The answer step failed for good: ${error.message}` }, { status: 503 });
      }
      throw error;
    }
    const result: RunResult = { outline: outline.text, answer: answer.text };
    return Response.json(result);
  };
}

/**
 * Wraps a model so that its stream stops for good when the (n+1)-th text delta is about to be
 * read — n deltas have been streamed by then — and calls `onKillPoint` (which has the process
 * killed). The step then waits for its process to die.
 */
function killAfterTokens<M extends { doStream: (...args: never[]) => PromiseLike<{ stream: ReadableStream<unknown> }> }>(
  model: M,
  tokens: number,
  onKillPoint: () => void,
): M {
  const doStream = model.doStream.bind(model) as (...args: unknown[]) => PromiseLike<{ stream: ReadableStream<unknown> }>;
  return new Proxy(model, {
    get(target, property, receiver) {
      if (property !== "doStream") return Reflect.get(target, property, receiver);
      return async (...args: unknown[]) => {
        const result = await doStream(...args);
        let deltas = 0;
        const stream = result.stream.pipeThrough(
          new TransformStream<unknown, unknown>({
            async transform(part, controller) {
              if (isTextDelta(part) && deltas++ === tokens) {
                onKillPoint();
                await new Promise(() => {}); // until the process is killed
              }
              controller.enqueue(part);
            },
          }),
        );
        return { ...result, stream };
      };
    },
  });
}

function isTextDelta(part: unknown): boolean {
  return typeof part === "object" && part !== null && (part as { type?: unknown }).type === "text-delta";
}
