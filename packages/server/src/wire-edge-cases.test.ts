// Wire edge cases over real loopback HTTP: createEndpointServer + durable.endpoint/waitEndpoint on one
// side, fetchWithStream / resumeStream (or plain fetch) on the other.
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { fetchWithStream, resumeStream } from "@durastream/client";
import { afterEach, describe, expect, it } from "vitest";
import { createDurable, type DurableOptions } from "./create-durable.js";
import { step, stream } from "./context.js";
import type { DurableHandler } from "./run-types.js";
import { createEndpointServer } from "./node/index.js";

const servers: { close(): void; closeAllConnections(): void }[] = [];
const closers: (() => void)[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
  for (const close of closers.splice(0)) close();
});

/** An app on loopback HTTP: the wait endpoint at /api/durable/<runId>, the durable endpoint at /run. */
async function serveWireApp(handler: DurableHandler, options: DurableOptions = {}): Promise<string> {
  const durable = createDurable({ backoff: () => 0, ...options });
  const endpoint = durable.endpoint(handler);
  const waitEndpoint = durable.waitEndpoint();
  const server = createEndpointServer((request) => (new URL(request.url).pathname.startsWith("/api/durable/") ? waitEndpoint(request) : endpoint(request)));
  servers.push(server);
  closers.push(() => void durable.close());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/run`;
}

/** Runs `handler` to its end with fetchWithStream; its resume URL and the result frame's offset. */
async function finishedRun(url: string): Promise<{ resumeUrl: string; resultOffset: string; lastDataOffset: string }> {
  let resumeUrl = "";
  let resultOffset = "";
  let lastDataOffset = "";
  const response = await fetchWithStream(url, {
    onMetadata: (metadata) => {
      resumeUrl = metadata.resumeUrl ?? "";
    },
    onData: ({ offset }) => {
      lastDataOffset = offset;
    },
    onResult: ({ offset }) => {
      resultOffset = offset;
    },
  });
  expect(await response.json()).toEqual({ answer: 42 });
  return { resumeUrl, resultOffset, lastDataOffset };
}

const answerHandler: DurableHandler = async () => {
  await step.run("a", () => {
    stream.push("one");
    stream.push("two");
  });
  return Response.json({ answer: 42 }, { status: 201, headers: { "x-kept": "yes" } });
};

describe("resuming at or past the end of a finished run", () => {
  it("resumeStream with the result frame's offset resolves at once with the result, delivering nothing again", async () => {
    const { resumeUrl, resultOffset } = await finishedRun(await serveWireApp(answerHandler));
    expect(resumeUrl).not.toBe("");
    const delivered: string[] = [];
    let metadata = 0;
    const started = Date.now();
    const response = await resumeStream(resumeUrl, {
      offset: resultOffset,
      onMetadata: () => {
        metadata += 1;
      },
      onData: ({ offset }) => delivered.push(`data ${offset}`),
      onCommit: ({ offset }) => delivered.push(`commit ${offset}`),
      onResult: ({ offset }) => delivered.push(`result ${offset}`),
    });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(metadata).toBe(1);
    expect(delivered).toEqual([]);
    expect(response.status).toBe(201);
    expect(response.headers.get("x-kept")).toBe("yes");
    expect(await response.json()).toEqual({ answer: 42 });
  });

  it("an offset past the end (a later epoch, a larger sequence) ends the same way", async () => {
    const { resumeUrl, resultOffset } = await finishedRun(await serveWireApp(answerHandler));
    for (const offset of ["999-1", `1-${Number(resultOffset.split("-")[1]) + 5}`]) {
      const response = await resumeStream(resumeUrl, { offset, onData: () => expect.unreachable() });
      expect(await response.json()).toEqual({ answer: 42 });
    }
  });

  it("the wait endpoint answers metadata, then the result frame again with its own offset, then closes", async () => {
    const { resumeUrl, resultOffset } = await finishedRun(await serveWireApp(answerHandler));
    const response = await fetch(resumeUrl, { headers: { accept: "text/event-stream", "last-event-id": resultOffset } });
    const text = await response.text(); // resolves only when the server closes the stream
    const events = text.split("\n\n").filter((event) => event.length > 0);
    expect(events).toHaveLength(2);
    expect(events[0]).toMatch(/^event: metadata\n/);
    expect(events[1]).toMatch(new RegExp(`^event: result\\nid: ${resultOffset}\\ndata: \\{"status":"succeeded"`));
  });

  it("an offset before the result frame still replays what follows it", async () => {
    const { resumeUrl, lastDataOffset } = await finishedRun(await serveWireApp(answerHandler));
    const delivered: string[] = [];
    const response = await resumeStream(resumeUrl, {
      offset: lastDataOffset,
      onData: ({ data }) => delivered.push(`data ${String(data)}`),
      onCommit: () => delivered.push("commit"),
      onResult: () => delivered.push("result"),
    });
    expect(delivered).toEqual(["commit", "result"]);
    expect(await response.json()).toEqual({ answer: 42 });
  });
});

describe("a handler response with content-encoding: gzip", () => {
  it("reads as the same decoded JSON through plain fetch, the wait endpoint's long-poll and fetchWithStream", async () => {
    const payload = { answer: 42, text: "中文 😀".repeat(50) };
    const url = await serveWireApp(async () => {
      await step.run("a", () => stream.push("one"));
      return new Response(gzipSync(JSON.stringify(payload)), {
        status: 201,
        headers: { "content-type": "application/json", "content-encoding": "gzip", "x-kept": "yes" },
      });
    });
    const seen = async (response: Response) => ({
      status: response.status,
      contentType: response.headers.get("content-type"),
      contentEncoding: response.headers.get("content-encoding"),
      kept: response.headers.get("x-kept"),
      body: (await response.json()) as unknown,
    });
    const expected = { status: 201, contentType: "application/json", contentEncoding: "gzip", kept: "yes", body: payload };

    // 1. The endpoint without SSE: the handler's own Response, decoded by fetch.
    expect(await seen(await fetch(url, { method: "POST" }))).toEqual(expected);

    // 3. fetchWithStream: the Response rebuilt from the result frame.
    let resumeUrl = "";
    const streamed = await fetchWithStream(url, {
      fetchOpts: { method: "POST" },
      onMetadata: (metadata) => {
        resumeUrl = metadata.resumeUrl ?? "";
      },
    });
    expect(await seen(streamed)).toEqual(expected);

    // 2. The wait endpoint's long-poll of that finished run: the stored bytes, decoded by fetch.
    const polled = await fetch(resumeUrl);
    expect(await seen(polled)).toEqual(expected);
  });
});
