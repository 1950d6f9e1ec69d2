// Renders per second of useDurableStream under a steady stream, in a DOM (happy-dom) with React's
// real scheduler. The stream comes from a scripted fetch that emits one chunk per millisecond
// millisecond (1,000 chunks/s; a timer tick sends what is due), so the figure is what a chat UI would render.
import { GlobalRegistrator } from "@happy-dom/global-registrator";
import { PROTOCOL_VERSION, encodeFrame, hashStepId } from "@durastream/protocol";

export interface HookRenders {
  readonly throttleMs: number;
  readonly chunksPerSecond: number;
  readonly rendersPerSecond: number;
  readonly finalTextLength: number;
}

/** Streams for `seconds` at ~1 chunk/ms into a component using the hook; counts its renders. */
export async function measureHookRenders(throttleMs: number, seconds: number): Promise<HookRenders> {
  if (!GlobalRegistrator.isRegistered) GlobalRegistrator.register();
  const React = await import("react");
  const { createRoot } = await import("react-dom/client");
  const { useDurableStream } = await import("@durastream/react");
  const step = await hashStepId("answer");
  const encoder = new TextEncoder();
  let sent = 0;
  let streamStarted = 0;
  let streamEnded = 0;

  const fetch = async () =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          streamStarted = performance.now();
          controller.enqueue(
            encoder.encode(encodeFrame({ type: "metadata", runId: "01JBENCHHOOKRENDERS0000000", protocolVersion: PROTOCOL_VERSION, resumeUrl: null })),
          );
          const timer = setInterval(() => {
            // Timers fire less often than every millisecond: catch up so the rate is 1 chunk/ms.
            const due = Math.min(Math.floor(performance.now() - streamStarted), seconds * 1000);
            while (sent < due) {
              sent += 1;
              controller.enqueue(encoder.encode(encodeFrame({ type: "data", offset: `1-${sent}`, hashedStepId: step, data: "x" })));
            }
            if (sent < seconds * 1000) return;
            clearInterval(timer);
            streamEnded = performance.now();
            controller.enqueue(encoder.encode(encodeFrame({ type: "commit", offset: `1-${sent + 1}`, hashedStepId: step })));
            controller.enqueue(
              encoder.encode(
                encodeFrame({
                  type: "result",
                  offset: `1-${sent + 2}`,
                  status: "succeeded",
                  response: { status: 200, statusText: "OK", headers: [], body: "", bodyEncoding: "text" },
                }),
              ),
            );
            controller.close();
          }, 1);
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    );

  let renders = 0;
  let finished!: (length: number) => void;
  const done = new Promise<number>((resolve) => (finished = resolve));
  function Chat() {
    renders += 1;
    const chat = useDurableStream<string>({ url: "http://bench.local/api/chat", fetch, throttleMs, reconnect: false });
    React.useEffect(() => {
      void chat.start();
    }, []);
    React.useEffect(() => {
      if (chat.status === "succeeded") finished(chat.committedText.length);
    }, [chat.status, chat.committedText]);
    return React.createElement("p", null, chat.committedText, React.createElement("span", { style: { opacity: 0.5 } }, chat.uncommittedText));
  }
  const container = document.createElement("div");
  document.body.append(container);
  const root = createRoot(container);
  root.render(React.createElement(Chat));
  const finalTextLength = await done;
  root.unmount();
  container.remove();
  const elapsed = (streamEnded - streamStarted) / 1000;
  return { throttleMs, chunksPerSecond: sent / elapsed, rendersPerSecond: renders / elapsed, finalTextLength };
}
