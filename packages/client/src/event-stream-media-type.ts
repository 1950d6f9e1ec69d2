import { EVENT_STREAM_CONTENT_TYPE } from "@durastream/protocol";

/**
 * True when a media type (a `Content-Type` value, or one media range of an `Accept` list) is
 * `text/event-stream`. Case-insensitive; parameters such as `; charset=utf-8` are allowed.
 *
 * @example
 * ```ts
 * isEventStreamMediaType("Text/Event-Stream; charset=utf-8"); // true
 * isEventStreamMediaType("application/json");                // false
 * ```
 */
export function isEventStreamMediaType(value: string | null | undefined): boolean {
  if (value === null || value === undefined) return false;
  const semicolon = value.indexOf(";");
  const essence = (semicolon === -1 ? value : value.slice(0, semicolon)).trim();
  return essence.length === EVENT_STREAM_CONTENT_TYPE.length && essence.toLowerCase() === EVENT_STREAM_CONTENT_TYPE;
}

/**
 * True when a response is a server-sent event stream, judged by its `Content-Type` header.
 *
 * @example
 * ```ts
 * const response = await fetch("/api/chat", { headers: { accept: "text/event-stream" } });
 * if (!isEventStreamResponse(response)) return response; // not a Durastream stream
 * ```
 */
export function isEventStreamResponse(response: Response): boolean {
  return isEventStreamMediaType(response.headers.get("content-type"));
}
