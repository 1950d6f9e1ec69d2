import { ProtocolError, snapshotResponse, type ResponseSnapshot } from "@durastream/protocol";
import { DurableError, describeError } from "./errors.js";
import { toJson } from "./json-data.js";
import type { RunOutcome } from "./run-types.js";

/** The default of `limits.maxResponseBytes`: 16 MiB. */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** The Response for a handler that returned a value rather than a Response: the value as JSON. */
export function toJsonResponse(value: unknown): Response {
  return new Response(value === undefined ? "null" : toJson(value, "The handler's return value", "INVALID_STEP_OUTPUT"), {
    status: 200,
    headers: { "content-type": "application/json" },
  });
}

/** The Response of a run that failed: 500, the error's message as plain text. */
export function failureResponse(error: unknown): Response {
  return new Response(describeError(error).message, {
    status: 500,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

/** The error a run fails with when its handler's response body is past `maxResponseBytes`. */
function responseTooLarge(runId: string, maxResponseBytes: number, cause: unknown): DurableError {
  return new DurableError(
    "RESPONSE_TOO_LARGE",
    `Run ${runId}: the handler's response body is larger than limits.maxResponseBytes (${maxResponseBytes} bytes), so reading it stopped there (the body was cancelled) and the run failed. Stream large content to the client with stream.pipe(source) inside a step and return a small response (a summary, an id), or raise createDurable({ limits: { maxResponseBytes } }).`,
    { cause },
  );
}

function isBodyTooLarge(error: unknown): boolean {
  return ProtocolError.isInstance(error) && error.code === "BODY_TOO_LARGE";
}

/**
 * The outcome's response read into a snapshot to store as the run's result. With `keepBody`, a
 * clone is read, so the outcome's own body stays readable. A body that cannot be read, or is past
 * `maxResponseBytes`, makes the run fail: the snapshot is then the failure response saying why.
 */
export async function snapshotOutcome(
  outcome: RunOutcome,
  keepBody: boolean,
  runId: string,
  maxResponseBytes: number,
): Promise<{ status: RunOutcome["status"]; snapshot: ResponseSnapshot }> {
  try {
    // A body past the limit is not read further (its stream is cancelled): an endless body
    // costs at most maxResponseBytes.
    const snapshot = await snapshotResponse(keepBody ? outcome.response.clone() : outcome.response, { maxBodyBytes: maxResponseBytes });
    return { status: outcome.status, snapshot };
  } catch (error) {
    const failure = isBodyTooLarge(error) ? responseTooLarge(runId, maxResponseBytes, error) : error;
    return { status: "failed", snapshot: await snapshotResponse(failureResponse(failure)) };
  }
}
