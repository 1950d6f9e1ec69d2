import { readUIMessageStream, type UIMessage, type UIMessageChunk } from "ai";

/**
 * Folds UI message chunks into the assistant message, with the AI SDK's own reader
 * (`readUIMessageStream`, the same state machine `useChat` runs): starting from `continued` (a
 * copy of it) for a continuation. An `error` chunk or a malformed sequence rejects. Internal.
 */
export async function foldChunks<UI_MESSAGE extends UIMessage>(chunks: readonly UIMessageChunk[], continued?: UI_MESSAGE): Promise<UI_MESSAGE> {
  const source = new ReadableStream<UIMessageChunk>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  let message: UI_MESSAGE | undefined;
  const snapshots = readUIMessageStream<UI_MESSAGE>({
    stream: source,
    terminateOnError: true,
    ...(continued === undefined ? {} : { message: structuredClone(continued) }),
  });
  for await (const snapshot of snapshots) message = snapshot;
  if (message === undefined) throw new Error("durableChat: the answer's chunks made no message (no start chunk).");
  return message;
}
