import { EVENT_STREAM_CONTENT_TYPE } from "@durastream/protocol";
import { isEventStreamMediaType } from "./event-stream-media-type.js";

/**
 * The headers of the first request: a copy of the caller's headers (any `HeadersInit` shape: a
 * `Headers` instance, an array of `[name, value]` pairs or a plain object) that always accepts
 * `text/event-stream`. A caller's own `Accept` is kept, with `text/event-stream` appended unless it
 * already lists it, so a Durastream endpoint answers with a stream however the headers were given.
 */
export function createRequestHeaders(init?: HeadersInit | null): Headers {
  const headers = new Headers(init ?? undefined);
  const accept = headers.get("accept");
  if (accept === null || accept.trim() === "") headers.set("accept", EVENT_STREAM_CONTENT_TYPE);
  else if (!acceptsEventStream(accept)) headers.set("accept", `${accept}, ${EVENT_STREAM_CONTENT_TYPE}`);
  return headers;
}

/**
 * The headers of a request that continues reading a run's log, e.g. after a redirect frame:
 * `Accept: text/event-stream`, and `Last-Event-ID` with the offset of the last log frame received
 * (left out when none was received, so the server replays the log from its start).
 */
export function createResumeHeaders(offset: string | undefined): Headers {
  const headers = new Headers({ accept: EVENT_STREAM_CONTENT_TYPE });
  if (offset !== undefined) headers.set("last-event-id", offset);
  return headers;
}

/**
 * True when an `Accept` header value lists `text/event-stream` (with or without parameters such as
 * a quality value). Wildcards such as `text/*` do not count: the server must see the media type itself.
 */
export function acceptsEventStream(accept: string): boolean {
  for (const range of accept.split(",")) {
    if (isEventStreamMediaType(range)) return true;
  }
  return false;
}
