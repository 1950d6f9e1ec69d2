import type { FetchFunction } from "@durastream/client";
import { encodeFrame, type Frame } from "@durastream/protocol";

const encoder = new TextEncoder();

/**
 * A `fetch` that needs no server: answers every request with an SSE response whose body streams
 * `frames`, encoded, `framesPerChunk` frames per chunk, and records the requests.
 *
 * @example
 * ```ts
 * const scripted = scriptedFetch([metadata, dataFrame("1-1", "a"), commitFrame("1-2"), resultFrame("1-3", '"a"')]);
 * createDurableStream({ url: ENDPOINT, fetch: scripted.fetch });
 * ```
 */
export function scriptedFetch(
  frames: readonly Frame[],
  framesPerChunk = 64,
): { readonly fetch: FetchFunction; readonly requests: { readonly url: string; readonly init: RequestInit | undefined }[] } {
  const requests: { url: string; init: RequestInit | undefined }[] = [];
  return {
    requests,
    fetch: async (url, init) => {
      requests.push({ url, init });
      let index = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (index >= frames.length) {
            controller.close();
            return;
          }
          let text = "";
          for (const end = Math.min(frames.length, index + framesPerChunk); index < end; index += 1) text += encodeFrame(frames[index]!);
          controller.enqueue(encoder.encode(text));
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    },
  };
}
