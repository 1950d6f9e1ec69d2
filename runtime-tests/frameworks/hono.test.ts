// Hono on @hono/node-server: the durable endpoint and the wait endpoint called with c.req.raw,
// next to an ordinary route that reads its JSON body with c.req.json(), over real HTTP on loopback.
import type { Server } from "node:http";
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { afterEach, describe, expect, it } from "vitest";
import { cancelThroughWaitEndpoint, createChat, expectedCancelReport, expectedChatReport, postChat, readmeMountLines, runChatClient } from "./chat.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listen(app: Hono, chat: ReturnType<typeof createChat>): Promise<string> {
  const server = await new Promise<Server>((resolve) => {
    const listening = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(listening as Server));
  });
  cleanups.push(async () => {
    await chat.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("Hono", () => {
  it("serves a durable endpoint and the wait endpoint beside c.req.json() on another route; a client resumes after disconnecting", async () => {
    const chat = createChat();
    const { endpoint, wait, release } = chat;

    // The same shape as the README's snippet.
    const app = new Hono();
    app.post("/api/chat", (c) => endpoint(c.req.raw)); // c.req.raw, its body unread
    app.all("/api/durable/*", (c) => wait(c.req.raw)); // GET follows a run, DELETE cancels it
    app.post("/api/release", async (c) => {
      const { gate } = await c.req.json<{ gate: string }>(); // an ordinary route, with Hono's own body parsing
      release(gate);
      return c.json({ released: true });
    });

    const origin = await listen(app, chat);
    expect(await runChatClient(origin)).toEqual(expectedChatReport);
    expect(await cancelThroughWaitEndpoint(origin)).toEqual(expectedCancelReport); // DELETE through the same mount
  });

  it("answers BODY_ALREADY_READ with what to change when a middleware reads the body with c.req.json() first", async () => {
    const chat = createChat();
    const app = new Hono();
    // Wrong: this middleware reads the body of c.req.raw before the endpoint can.
    app.use("/api/chat", async (c, next) => {
      await c.req.json();
      await next();
    });
    app.post("/api/chat", (c) => chat.endpoint(c.req.raw));
    const origin = await listen(app, chat);

    const response = await postChat(origin);
    expect(response.status).toBe(500);
    expect(response.headers.get("x-durastream-error")).toBe("BODY_ALREADY_READ");
    const message = await response.text();
    expect(message).toContain("request.bodyUsed is true");
    expect(message).toContain("in Hono, call the endpoint with c.req.raw and do not call c.req.json()");
  });

  it("mounts them exactly as the README's snippet does", async () => {
    const lines = await readmeMountLines("Hono");
    expect(lines.length).toBeGreaterThan(1);
    const source = await readFile(new URL(import.meta.url), "utf8");
    for (const line of lines) expect(source).toContain(line);
  });
});
