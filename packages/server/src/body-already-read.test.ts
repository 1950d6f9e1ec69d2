import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { InvalidOptionsError } from "@durastream/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { step } from "./context.js";
import { createDurable } from "./create-durable.js";
import { serveEndpoint } from "./node/serve-endpoint.js";

// A body parser that ran before the endpoint (express.json(), Fastify's parsers, Hono's
// c.req.json()) leaves no body to read: the endpoint says what to change instead of failing with
// "the client disconnected before the request body was complete".

/** What express.json() does to the Node request before the next handler runs. */
function parseJsonBody(incoming: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let text = "";
    incoming.setEncoding("utf8");
    incoming.on("data", (chunk: string) => (text += chunk));
    incoming.on("end", () => resolve(JSON.parse(text)));
    incoming.on("error", reject);
  });
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("a request whose body a body parser already read", () => {
  it("gets a 500 that names the parser and what to change (Node: express.json() before serveEndpoint)", async () => {
    const durable = createDurable();
    let runs = 0;
    const listener = serveEndpoint(
      durable.endpoint(async (request) => {
        runs += 1;
        return Response.json(await step.run("echo", async () => request.json()));
      }),
    );
    const origin = await listen(
      createServer(async (incoming, outgoing) => {
        if (incoming.url === "/parsed") await parseJsonBody(incoming);
        listener(incoming, outgoing);
      }),
    );
    const init = { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: "hi" }) };

    const parsed = await fetch(`${origin}/parsed`, init);
    expect(parsed.status).toBe(500);
    expect(parsed.headers.get("x-durastream-error")).toBe("BODY_ALREADY_READ");
    const message = await parsed.text();
    expect(message).toContain("already read by a body parser that ran before the endpoint (express.json()");
    expect(message).toContain("register the route before app.use(express.json())");
    expect(message).not.toContain("disconnected");
    expect(runs).toBe(0);

    // The same endpoint without the parser works.
    const unparsed = await fetch(`${origin}/unparsed`, init);
    expect(unparsed.status).toBe(200);
    expect(await unparsed.json()).toEqual({ prompt: "hi" });
    expect(runs).toBe(1);
    await durable.close();
  });

  it("fails the body of a plain handler behind serveEndpoint with an InvalidOptionsError", async () => {
    let failure: unknown;
    const listener = serveEndpoint(async (request) => {
      failure = await request.text().catch((error: unknown) => error);
      return new Response("handled");
    });
    const origin = await listen(
      createServer(async (incoming, outgoing) => {
        await parseJsonBody(incoming);
        listener(incoming, outgoing);
      }),
    );
    const response = await fetch(origin, { method: "POST", body: "{}" });
    expect(await response.text()).toBe("handled");
    expect(InvalidOptionsError.isInstance(failure)).toBe(true);
    expect((failure as Error).message).toContain("express.json()");
  });

  it("gets a 500 when request.bodyUsed (Hono's c.req.json() before the endpoint)", async () => {
    const durable = createDurable();
    let runs = 0;
    const endpoint = durable.endpoint(async () => {
      runs += 1;
      return new Response("ran");
    });
    const request = new Request("http://app.test/chat", { method: "POST", body: JSON.stringify({ prompt: "hi" }) });
    await request.json();
    const response = await endpoint(request);
    expect(response.status).toBe(500);
    expect(response.headers.get("x-durastream-error")).toBe("BODY_ALREADY_READ");
    expect(await response.text()).toContain("request.bodyUsed is true");
    expect(runs).toBe(0);
    await durable.close();
  });
});
