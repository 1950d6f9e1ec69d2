// The UI message stream body of uiMessageStreamHandler: wire format, keep-alives, pacing.
import { until } from "@durastream/testing";
import { describe, expect, it } from "vitest";
import { createUIMessageSseWriter, pacedResponse } from "./ui-message-sse.js";

const decoder = new TextDecoder();

async function readAll(body: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const bytes of body as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(bytes, { stream: true });
  return text;
}

describe("createUIMessageSseWriter", () => {
  it("writes one data event per chunk and [DONE] at the end, as the AI SDK's JsonToSseTransformStream", async () => {
    const writer = createUIMessageSseWriter({ keepAliveInterval: 60_000, onCancel: () => {} });
    writer.write({ type: "start", messageId: "m" });
    writer.write({ type: "text-delta", id: "t", delta: 'a "quoted"\nline' });
    writer.end();
    writer.write({ type: "finish" }); // ignored once closed
    expect(await readAll(writer.body)).toBe(
      'data: {"type":"start","messageId":"m"}\n\ndata: {"type":"text-delta","id":"t","delta":"a \\"quoted\\"\\nline"}\n\ndata: [DONE]\n\n',
    );
  });

  it("sends a keep-alive comment when nothing was written for keepAliveInterval, and calls onCancel when the reader goes away", async () => {
    const cancelled: unknown[] = [];
    const writer = createUIMessageSseWriter({ keepAliveInterval: 5, onCancel: (reason) => void cancelled.push(reason) });
    const reader = writer.body.getReader();
    const { value } = await reader.read();
    expect(decoder.decode(value)).toBe(": keep-alive\n\n");
    await reader.cancel("gone");
    expect(cancelled).toEqual(["gone"]);
    writer.write({ type: "finish" }); // no throw after cancel
  });

  it("paces the source stream to the reader: no source read while the body's queue is full", async () => {
    const writer = createUIMessageSseWriter({ keepAliveInterval: 60_000, onCancel: () => {} });
    let pulls = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls += 1;
        controller.enqueue(new Uint8Array(8));
      },
    });
    const paced = pacedResponse(new Response(source, { headers: { "content-type": "text/event-stream; charset=utf-8" } }), writer);
    const reader = paced.body!.getReader();

    await reader.read(); // room: the source is read
    const big = "x".repeat(70 * 1024);
    writer.write({ type: "text-delta", id: "t", delta: big }); // over the high-water mark
    expect(writer.ready()).toBeInstanceOf(Promise);
    const pullsWhenFull = pulls;
    let next = false;
    void reader.read().then(() => {
      next = true;
    });
    for (let turn = 0; turn < 20; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(next).toBe(false); // waits for the client
    expect(pulls).toBe(pullsWhenFull);

    await writer.body.getReader().read(); // the client reads: room again
    await until(() => next, "the paced read to go on");
    expect(writer.ready()).toBeUndefined();
  });

  it("passes a response that is not an event stream through unchanged", () => {
    const writer = createUIMessageSseWriter({ keepAliveInterval: 60_000, onCancel: () => {} });
    const response = new Response("too large", { status: 413 });
    expect(pacedResponse(response, writer)).toBe(response);
    writer.close();
  });
});
