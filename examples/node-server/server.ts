// A durable chat endpoint on plain Node `http`, no framework.
//
//   POST /api/chat            { "prompt": "…" }  → streams the (mock) model's answer in a durable step
//   GET  /api/durable/<runId>                    → the wait endpoint: replays and tails a run's log
//
// The first attempt of the "answer" step fails on purpose after a few tokens, so a client sees those
// tokens arrive, sees them rolled back, and sees the retry's answer committed — exactly once.
//
// Run it: pnpm --filter @durastream/example-node-server start   (see README.md)
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { createMockModel, pipeModel, type AnyLanguageModel, type MockLanguageModel } from "@durastream/ai";
import { createDurable, step, StepFailedError, type DurableOptions } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";

/** The mock model's answer to a prompt (deterministic, so a test can compare it exactly). */
export function replyTo(prompt: string): string {
  return `You asked: "${prompt}". This answer streams token by token from a durable step: its first attempt failed halfway, was rolled back, and the retry's text is the only one committed.`;
}

export interface ChatAppOptions {
  /**
   * How many attempts of the "answer" step fail on purpose (each after `failAfterTokens` tokens).
   * Default: `$CHAT_FAILURES`, else 1. A request's `?failures=N` overrides it. More than the step's
   * retries (3) makes the step fail for good: the endpoint then answers 503.
   */
  failures?: number;
  /** After how many tokens an injected failure happens. Default 6. */
  failAfterTokens?: number;
  /** Delay before each token, ms. Default: `$CHAT_TOKEN_DELAY_MS`, else 40 (so you can watch it stream). */
  tokenDelayMs?: number;
  /** Options for `createDurable` (store, backoff, maxInlineWait, secret, …). */
  durable?: DurableOptions;
  /** Wraps the model of each attempt (tests use it to hold a stream at a chosen point). */
  wrapModel?: (model: MockLanguageModel, attempt: number) => AnyLanguageModel;
}

function numberFrom(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined || value.trim() === "") return undefined;
  const number = Number(value);
  return Number.isInteger(number) && number >= 0 ? number : undefined;
}

/**
 * Builds the app: an `http.Server` (not listening yet) serving the durable chat endpoint and its
 * wait endpoint. Closing the server stops the durable toolkit's timers.
 *
 * @example
 * ```ts
 * const server = createApp({ failures: 0 });
 * server.listen(0, () => console.log(server.address()));
 * ```
 */
export function createApp(options: ChatAppOptions = {}): Server {
  const defaultFailures = options.failures ?? numberFrom(process.env.CHAT_FAILURES) ?? 1;
  const failAfterTokens = options.failAfterTokens ?? 6;
  const tokenDelayMs = options.tokenDelayMs ?? numberFrom(process.env.CHAT_TOKEN_DELAY_MS) ?? 40;

  // Retries start 300 ms after a failure; a wait longer than `maxInlineWait` (a sleep, a long
  // backoff) sends the client to the wait endpoint while the run goes on in the background.
  const durable = createDurable({ backoff: { initialDelay: 300, factor: 2, maxDelay: 5_000 }, maxInlineWait: 1_000, ...options.durable });

  const chat = durable.endpoint(
    async (request) => {
      // The request (body included) is stored with the run: a re-execution after a sleep reads it again.
      const body = (await request.json().catch(() => null)) as { prompt?: unknown } | null;
      const prompt = typeof body?.prompt === "string" ? body.prompt.trim() : "";
      if (prompt === "") return Response.json({ error: 'Send a JSON body like { "prompt": "Hello" }.' }, { status: 400 });

      const query = new URL(request.url).searchParams;
      const failures = numberFrom(query.get("failures")) ?? defaultFailures;

      // ?pause=2s: think for a while first. Longer than maxInlineWait, the run is suspended and the
      // client follows a redirect to /api/durable/<runId>, where the answer then streams.
      const pause = query.get("pause");
      if (pause !== null && pause !== "") await step.sleep("think", /^\d+$/.test(pause) ? Number(pause) : pause);

      try {
        const answer = await step.run("answer", ({ attempt, signal }) => {
          const mock = createMockModel({
            text: replyTo,
            tokenDelayMs,
            // A fresh mock per attempt: its first (and only) call fails while `attempt <= failures`.
            failures:
              attempt <= failures
                ? [{ call: 1, afterTokens: failAfterTokens, message: `the model dropped the connection (injected failure ${attempt} of ${failures})` }]
                : [],
          });
          const model = options.wrapModel?.(mock, attempt) ?? mock;
          return pipeModel(model, { call: { prompt: [{ role: "user", content: [{ type: "text", text: prompt }] }] }, signal });
        });
        return Response.json({ prompt, answer: answer.text, finishReason: answer.finishReason, usage: answer.usage });
      } catch (error) {
        if (StepFailedError.isInstance(error)) {
          return Response.json({ error: `The model failed ${error.attempts} times; try again later.` }, { status: 503 });
        }
        throw error;
      }
    },
    { id: "chat" },
  );
  const waitEndpoint = durable.waitEndpoint();

  const server = createEndpointServer(async (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/api/chat") {
      if (request.method !== "POST") return new Response('POST a JSON body { "prompt": "…" } here.\n', { status: 405, headers: { allow: "POST" } });
      return chat(request);
    }
    if (pathname.startsWith("/api/durable/")) return waitEndpoint(request);
    if (pathname === "/") {
      return new Response(
        'Durastream node-server example.\n  POST /api/chat {"prompt": "…"}  (?failures=N, ?pause=2s)\n  GET  /api/durable/<runId>?token=…\nTry: pnpm --filter @durastream/example-node-server client "Why durable?"\n',
        { headers: { "content-type": "text/plain; charset=utf-8" } },
      );
    }
    return new Response("Not found\n", { status: 404 });
  });
  server.on("close", () => durable.close());
  return server;
}

// `node server.ts` (through tsx): listen on $PORT (default 3000) and print the URL.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = createApp();
  server.listen(Number(process.env.PORT ?? 3000), () => {
    const { port } = server.address() as AddressInfo;
    console.log(`Durastream node-server example listening on http://localhost:${port}`);
  });
  const stop = () => {
    server.closeAllConnections();
    server.close();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
