import { EVENT_STREAM_CONTENT_TYPE, RUN_ID_HEADER } from "@durastream/protocol";

/** Headers of every SSE response. */
export function eventStreamHeaders(runId: string): Record<string, string> {
  return {
    "content-type": `${EVENT_STREAM_CONTENT_TYPE}; charset=utf-8`,
    "cache-control": "no-cache, no-transform",
    "x-accel-buffering": "no",
    [RUN_ID_HEADER]: runId,
  };
}

/** Whether the request asks for an SSE stream (`Accept` lists `text/event-stream` with q > 0). */
export function acceptsEventStream(request: Request): boolean {
  const accept = request.headers.get("accept");
  if (accept === null) return false;
  for (const range of accept.split(",")) {
    const [type = "", ...parameters] = range.split(";");
    if (type.trim().toLowerCase() !== EVENT_STREAM_CONTENT_TYPE) continue;
    const quality = parameters.find((parameter) => parameter.trim().toLowerCase().startsWith("q="));
    if (quality === undefined || Number(quality.trim().slice(2)) > 0) return true;
  }
  return false;
}
