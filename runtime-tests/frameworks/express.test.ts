// Express 5: the durable endpoint and the wait endpoint mounted with serveEndpoint, next to an
// ordinary route that parses its JSON body with express.json(), over real HTTP on loopback.
import type { Server } from "node:http";
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { serveEndpoint } from "@durastream/server/node";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { cancelThroughWaitEndpoint, createChat, expectedCancelReport, expectedChatReport, postChat, readmeMountLines, runChatClient } from "./chat.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listen(app: express.Express, chat: ReturnType<typeof createChat>): Promise<string> {
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, "127.0.0.1", () => resolve(listening));
  });
  cleanups.push(async () => {
    await chat.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("Express 5", () => {
  it("serves a durable endpoint and the wait endpoint beside express.json() on another route; a client resumes after disconnecting", async () => {
    const chat = createChat();
    const { endpoint, wait, release } = chat;

    // The same shape as the README's snippet.
    const app = express();
    app.post("/api/chat", serveEndpoint(endpoint)); // no body parser on this route
    app.all("/api/durable/*splat", serveEndpoint(wait)); // GET follows a run, DELETE cancels it
    app.post("/api/release", express.json(), (req, res) => {
      release(req.body.gate); // an ordinary route, with Express's own body parsing
      res.json({ released: true });
    });

    const origin = await listen(app, chat);
    expect(await runChatClient(origin)).toEqual(expectedChatReport);
    expect(await cancelThroughWaitEndpoint(origin)).toEqual(expectedCancelReport); // DELETE through the same mount
  });

  it("serves them from an express.Router() mounted at /api: the handler sees the whole path", async () => {
    const chat = createChat();
    const router = express.Router();
    router.post("/chat", serveEndpoint(chat.endpoint));
    router.all("/durable/*splat", serveEndpoint(chat.wait));
    router.post("/release", express.json(), (req, res) => {
      chat.release(req.body.gate);
      res.json({ released: true });
    });
    const app = express();
    app.use("/api", router);

    const origin = await listen(app, chat);
    expect(await runChatClient(origin)).toEqual(expectedChatReport);
  });

  it("answers BODY_ALREADY_READ with what to change when express.json() runs before the durable route", async () => {
    const chat = createChat();
    const app = express();
    app.use(express.json()); // wrong: reads the body before the endpoint can
    app.post("/api/chat", serveEndpoint(chat.endpoint));
    const origin = await listen(app, chat);

    const response = await postChat(origin);
    expect(response.status).toBe(500);
    expect(response.headers.get("x-durastream-error")).toBe("BODY_ALREADY_READ");
    const message = await response.text();
    expect(message).toContain("express.json()");
    expect(message).toContain("register the route before app.use(express.json())");
  });

  it("mounts them exactly as the README's snippet does", async () => {
    const lines = await readmeMountLines("Express 5");
    expect(lines.length).toBeGreaterThan(1);
    const source = await readFile(new URL(import.meta.url), "utf8");
    for (const line of lines) expect(source).toContain(line);
  });
});
