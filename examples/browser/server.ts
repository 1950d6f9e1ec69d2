// A plain HTML page (index.html, no framework) talking to a durable chat endpoint, all on one origin:
//
//   GET  /                       → index.html
//   GET  /durastream-client.js   → @durastream/client bundled into one ES module (esbuild, at start)
//   POST /api/chat               → the durable endpoint: streams the (mock) model's answer in a step
//   GET  /api/durable/<runId>    → the wait endpoint: replays and tails a run's log
//
// The page asks how many attempts of the model step should fail (default 1), so you can watch the
// failed attempt's text appear dimmed, vanish on the rollback, and the retry's text get committed.
//
// Run it: pnpm --filter @durastream/example-browser start   (see README.md)
import { readFile } from "node:fs/promises";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createMockModel, pipeModel, type AnyLanguageModel, type MockLanguageModel } from "@durastream/ai";
import { createDurable, step, StepFailedError, type DurableOptions } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { build } from "esbuild";

const exampleDirectory = dirname(fileURLToPath(import.meta.url));

/** The mock model's answer to a prompt (deterministic, so a test can compare it exactly). */
export function replyTo(prompt: string): string {
  return `You asked: "${prompt}". Each token arrives as soon as the model produces it; dimmed text is not committed yet, and a failed attempt's text is taken back before the retry streams the answer again.`;
}

/**
 * Bundles `@durastream/client` (its TypeScript sources, through the `@durastream/source` export
 * condition) with its dependencies into one ES module for the browser.
 */
export async function bundleClient(): Promise<string> {
  const result = await build({
    stdin: { contents: 'export * from "@durastream/client";', resolveDir: exampleDirectory, loader: "ts", sourcefile: "durastream-client.ts" },
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    conditions: ["@durastream/source"],
    legalComments: "none",
    logLevel: "silent",
  });
  return result.outputFiles[0]!.text;
}

export interface BrowserAppOptions {
  /** Delay before each token, ms. Default: `$CHAT_TOKEN_DELAY_MS`, else 60 (so you can watch it stream). */
  tokenDelayMs?: number;
  /** After how many tokens an injected failure happens. Default 8. */
  failAfterTokens?: number;
  /** How long the run sleeps before answering when the page asks it to think first (`?pause=1`). Default "2s". */
  thinkFor?: string | number;
  /** Options for `createDurable` (store, backoff, maxInlineWait, secret, …). */
  durable?: DurableOptions;
  /** Wraps the model of each attempt (the test uses it to hold a stream at a chosen point). */
  wrapModel?: (model: MockLanguageModel, attempt: number) => AnyLanguageModel;
}

function numberFrom(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined || value.trim() === "") return undefined;
  const number = Number(value);
  return Number.isInteger(number) && number >= 0 ? number : undefined;
}

/**
 * Builds the app: bundles the client, then returns an `http.Server` (not listening yet) serving the
 * page, the bundle, the durable endpoint and its wait endpoint. Closing the server stops the durable
 * toolkit's timers.
 *
 * @example
 * ```ts
 * const server = await createApp();
 * server.listen(3001);
 * ```
 */
export async function createApp(options: BrowserAppOptions = {}): Promise<Server> {
  const tokenDelayMs = options.tokenDelayMs ?? numberFrom(process.env.CHAT_TOKEN_DELAY_MS) ?? 60;
  const failAfterTokens = options.failAfterTokens ?? 8;
  const thinkFor = options.thinkFor ?? "2s";
  const [clientBundle, page] = await Promise.all([bundleClient(), readFile(join(exampleDirectory, "index.html"), "utf8")]);

  // Retries start 500 ms after a failure; a wait longer than `maxInlineWait` (the page's "think
  // first" sleep, a long backoff) moves the page to the wait endpoint while the run goes on.
  const durable = createDurable({ backoff: { initialDelay: 500, factor: 2, maxDelay: 5_000 }, maxInlineWait: 1_000, ...options.durable });

  const chat = durable.endpoint(
    async (request) => {
      // The request (body and URL) is stored with the run: a re-execution after a sleep reads it again.
      const body = (await request.json().catch(() => null)) as { prompt?: unknown } | null;
      const prompt = typeof body?.prompt === "string" ? body.prompt.trim() : "";
      if (prompt === "") return Response.json({ error: 'Send a JSON body like { "prompt": "Hello" }.' }, { status: 400 });

      const query = new URL(request.url).searchParams;
      const failures = numberFrom(query.get("failures")) ?? 1;
      // "Think first": a sleep longer than maxInlineWait suspends the run; the page follows a redirect
      // to /api/durable/<runId>, where the answer then streams.
      if (query.get("pause") === "1") await step.sleep("think", thinkFor);

      try {
        const answer = await step.run("answer", ({ attempt, signal }) => {
          const mock = createMockModel({
            text: replyTo,
            tokenDelayMs,
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
    if (pathname === "/" || pathname === "/index.html") {
      return new Response(page, { headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" } });
    }
    if (pathname === "/durastream-client.js") {
      return new Response(clientBundle, { headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" } });
    }
    return new Response("Not found\n", { status: 404 });
  });
  server.on("close", () => durable.close());
  return server;
}

// `node server.ts` (through tsx): listen on $PORT (default 3000) and print the URL.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = await createApp();
  server.listen(Number(process.env.PORT ?? 3000), () => {
    const { port } = server.address() as AddressInfo;
    console.log(`Durastream browser example: open http://localhost:${port}`);
  });
  const stop = () => {
    server.closeAllConnections();
    server.close();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
