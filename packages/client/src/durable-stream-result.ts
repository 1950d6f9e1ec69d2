import type { ResponseSnapshot } from "@durastream/protocol";
import type { DurableStreamResult } from "./durable-stream-types.js";

/**
 * Reads a run's final response into a `DurableStreamResult`: the body parsed as JSON when the
 * content type is JSON (`application/json`, `application/problem+json`, …), else its text (also when
 * the JSON does not parse). With the result frame's `snapshot`, the headers are its exact list;
 * otherwise (a response that was not a stream) those of the `Response`.
 */
export async function readResult<R>(response: Response, snapshot: ResponseSnapshot | undefined): Promise<DurableStreamResult<R>> {
  const text = await response.text();
  const headers = snapshot?.headers ?? [...response.headers];
  return Object.freeze({
    status: response.status,
    statusText: response.statusText,
    headers,
    body: parseBody(text, response.headers.get("content-type")) as R,
  });
}

function parseBody(text: string, contentType: string | null): unknown {
  if (contentType === null || !isJsonMediaType(contentType) || text === "") return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * True for JSON media types: `application/json`, and any `…/…+json` (parameters allowed).
 */
export function isJsonMediaType(contentType: string): boolean {
  const essence = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  return essence === "application/json" || essence.endsWith("+json");
}
