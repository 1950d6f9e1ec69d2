// Servers for the chat benchmark (bench/chat.ts), run in a child process so the client reading
// them has its own event loop and the servers' CPU is their own.
// Usage: node --import tsx bench/chat-server.ts (after `pnpm build`)
// Environment: BENCH_CHAT_TOKENS (the answer's text deltas, default 1000), BENCH_CHAT_DELAY_MS (the
// mock's tokenDelayMs, default 0).
// Prints one JSON line {"plain": port, "durable": port} once both listen. Both answer
//   POST /api/chat   the chat request useChat's DefaultChatTransport sends ({ id, messages, trigger })
//   GET  /cpu        {"cpu": µs}: user + system CPU of this process so far
// from the same mock model (createMockModel, word chunking: one text delta per word).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createMockModel, durableChat, uiMessageStreamHandler } from "@durastream/ai";
import { createDurable } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import { convertToModelMessages, pipeUIMessageStreamToResponse, streamText, toUIMessageStream, type UIMessage } from "ai";

const TOKENS = Number(process.env.BENCH_CHAT_TOKENS ?? 1000);
// One delta per word: "w0 ", "w1 ", …, "w999".
const TEXT = Array.from({ length: TOKENS }, (_, index) => `w${index}`).join(" ");
const TOKEN_DELAY_MS = Number(process.env.BENCH_CHAT_DELAY_MS ?? 0);

function cpuResponse(): Response {
  const { user, system } = process.cpuUsage();
  return Response.json({ cpu: user + system });
}

/**
 * The AI SDK alone, as a node:http app writes it: streamText and its UI message stream, piped to
 * the response (same socket options as createEndpointServer's).
 */
function plainServer(): http.Server {
  const model = createMockModel({ text: TEXT, tokenDelayMs: TOKEN_DELAY_MS });
  return http.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 }, async (request, response) => {
    if (request.url === "/cpu") {
      const { user, system } = process.cpuUsage();
      response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ cpu: user + system }));
      return;
    }
    let body = "";
    for await (const chunk of request) body += chunk;
    const { messages } = JSON.parse(body) as { messages: UIMessage[] };
    const result = streamText({ model, messages: await convertToModelMessages(messages) });
    await pipeUIMessageStreamToResponse({ response, stream: toUIMessageStream({ stream: result.stream }) });
  });
}

/** Durastream: durableChat in a durable endpoint (memory store), served to the stock client by uiMessageStreamHandler. */
function durableServer(): http.Server {
  const model = createMockModel({ text: TEXT, tokenDelayMs: TOKEN_DELAY_MS });
  const durable = createDurable();
  const endpoint = durable.endpoint(
    async (request) => {
      const { messages } = (await request.json()) as { messages: UIMessage[] };
      return durableChat({ model, messages });
    },
    { id: "chat" },
  );
  const wait = durable.waitEndpoint();
  const chat = uiMessageStreamHandler(endpoint, { waitEndpoint: wait });
  return createEndpointServer((request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/cpu") return cpuResponse();
    return pathname.startsWith("/api/durable/") ? wait(request) : chat(request);
  });
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

const ports = { plain: await listen(plainServer()), durable: await listen(durableServer()) };
process.stdout.write(`${JSON.stringify(ports)}\n`);
process.on("SIGINT", () => process.exit(0)); // exit cleanly so a CPU profile (--cpu-prof) gets written
