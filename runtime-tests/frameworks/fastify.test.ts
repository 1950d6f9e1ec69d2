// Fastify 5: the durable endpoint and the wait endpoint mounted with serveEndpoint on the raw
// request and response (reply.hijack()), in an encapsulated plugin whose content-type parsers
// leave the body unread, next to an ordinary route that Fastify's default JSON parser serves.
import { readFile } from "node:fs/promises";
import { serveEndpoint } from "@durastream/server/node";
import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { cancelThroughWaitEndpoint, createChat, expectedCancelReport, expectedChatReport, postChat, readmeMountLines, runChatClient } from "./chat.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listen(app: FastifyInstance, chat: ReturnType<typeof createChat>): Promise<string> {
  const origin = await app.listen({ port: 0, host: "127.0.0.1" });
  cleanups.push(async () => {
    await chat.close();
    app.server.closeAllConnections();
    await app.close();
  });
  return origin;
}

describe("Fastify 5", () => {
  it("serves a durable endpoint and the wait endpoint beside a route with the default JSON parser; a client resumes after disconnecting", async () => {
    const chat = createChat();
    const { endpoint, wait, release } = chat;

    // The same shape as the README's snippet.
    const app = Fastify();
    const serveChat = serveEndpoint(endpoint);
    const serveWait = serveEndpoint(wait);
    app.register(async (durableRoutes) => {
      // In this plugin only: no body parsing, the endpoint reads the body itself.
      durableRoutes.removeAllContentTypeParsers();
      durableRoutes.addContentTypeParser("*", (_request, _payload, done) => done(null));
      durableRoutes.post("/api/chat", (request, reply) => {
        reply.hijack();
        serveChat(request.raw, reply.raw);
      });
      durableRoutes.all("/api/durable/*", (request, reply) => {
        reply.hijack();
        serveWait(request.raw, reply.raw);
      });
    });
    app.post<{ Body: { gate: string } }>("/api/release", async (request) => {
      release(request.body.gate); // an ordinary route, with Fastify's default JSON parser
      return { released: true };
    });

    const origin = await listen(app, chat);
    expect(await runChatClient(origin)).toEqual(expectedChatReport);
    expect(await cancelThroughWaitEndpoint(origin)).toEqual(expectedCancelReport); // DELETE through the same mount
  });

  it("answers BODY_ALREADY_READ with what to change when the route keeps Fastify's JSON parser", async () => {
    const chat = createChat();
    const app = Fastify();
    const serveChat = serveEndpoint(chat.endpoint);
    // Wrong: outside such a plugin, Fastify's JSON parser reads the body before the handler runs.
    app.post("/api/chat", (request, reply) => {
      reply.hijack();
      serveChat(request.raw, reply.raw);
    });
    const origin = await listen(app, chat);

    const response = await postChat(origin);
    expect(response.status).toBe(500);
    expect(response.headers.get("x-durastream-error")).toBe("BODY_ALREADY_READ");
    const message = await response.text();
    expect(message).toContain("Fastify's content-type parsers");
    expect(message).toContain("fastify.removeAllContentTypeParsers()");
  });

  it("mounts them exactly as the README's snippet does", async () => {
    const lines = await readmeMountLines("Fastify 5");
    expect(lines.length).toBeGreaterThan(1);
    const source = await readFile(new URL(import.meta.url), "utf8");
    for (const line of lines) expect(source).toContain(line);
  });
});
