import { pipeModel } from "@durastream/ai";
import { StepFailedError } from "@durastream/server";
import { parseChatRequest, toPrompt, type ChatResponse } from "@/lib/chat";
import { durable } from "@/lib/durable";
import { chatModel } from "@/lib/model";

// The durable engine uses AsyncLocalStorage and keeps runs in this process: Node.js runtime, never cached.
export const runtime = "nodejs";
export const dynamic = "force-dynamic";

/**
 * POST /api/chat with `{ messages: [{ role, content }], failOnce?: true }` (or `?failOnce=1`).
 *
 * The answer is produced by one checkpointed step: its words stream to the client as they come,
 * tagged with the step; when the step returns, its output is stored and a commit frame is sent.
 * If the model fails mid-answer, a rollback frame tells the client to drop that attempt's words,
 * and the step is retried. The client (`useDurableStream` in `app/page.tsx`) follows all of it,
 * and after a page reload re-attaches through the wait endpoint (`app/api/durable/[runId]`).
 */
export const POST = durable.endpoint(
  async (request, { step }) => {
    const chat = parseChatRequest(await request.json().catch(() => null));
    if (typeof chat === "string") return Response.json({ error: chat }, { status: 400 });
    const failOnce = chat.failOnce || new URL(request.url).searchParams.get("failOnce") === "1";

    try {
      const answer = await step.run("answer", async ({ attempt, signal }) => {
        const { model, name } = await chatModel({ failThisAttempt: failOnce && attempt === 1 });
        const result = await pipeModel(model, { call: { prompt: toPrompt(chat.messages), maxOutputTokens: 1_000 }, signal });
        return { text: result.text, finishReason: result.finishReason, model: name } satisfies ChatResponse;
      });
      return Response.json(answer);
    } catch (error) {
      // Every attempt failed (or the failure was not retriable): answer with an error the page shows.
      if (StepFailedError.isInstance(error)) return Response.json({ error: `The model failed: ${error.message}` }, { status: 502 });
      throw error;
    }
  },
  // A stable id: with a durable store, a restarted process resumes this endpoint's runs by it.
  { id: "chat" },
);
