/** Builders for the protocol's frames, and the SSE text a server writes for them. */
import {
  PROTOCOL_VERSION,
  encodeFrame,
  type CommitFrame,
  type DataFrame,
  type Frame,
  type HashedStepId,
  type MetadataFrame,
  type RedirectFrame,
  type RedirectReason,
  type ResponseSnapshot,
  type ResultFrame,
  type RollbackFrame,
} from "@durastream/protocol";

/**
 * The metadata frame that opens a connection to run `runId`.
 *
 * @example
 * ```ts
 * metadataFrame("01JRUN", `/api/durable/01JRUN?token=t0k`);
 * ```
 */
export function metadataFrame(runId: string, resumeUrl: string | null): MetadataFrame {
  return { type: "metadata", runId, protocolVersion: PROTOCOL_VERSION, resumeUrl };
}

/**
 * A data frame, outside any step unless `hashedStepId` is given.
 *
 * @example
 * ```ts
 * dataFrame("1-1", "Hel"); dataFrame("1-2", { token: "lo" }, STEP);
 * ```
 */
export function dataFrame(offset: string, value: unknown, hashedStepId: HashedStepId = null): DataFrame {
  return { type: "data", offset, hashedStepId, data: value };
}

/**
 * A commit frame, outside any step unless `hashedStepId` is given.
 *
 * @example
 * ```ts
 * commitFrame("1-3"); commitFrame("1-3", STEP);
 * ```
 */
export function commitFrame(offset: string, hashedStepId: HashedStepId = null): CommitFrame {
  return { type: "commit", offset, hashedStepId };
}

/**
 * A rollback frame: attempt 1 of `hashedStepId` failed with `Error: boom` and will be retried.
 *
 * @example
 * ```ts
 * rollbackFrame("1-4", STEP); rollbackFrame("1-9", STEP, { attempt: 3, willRetry: false });
 * ```
 */
export function rollbackFrame(
  offset: string,
  hashedStepId: HashedStepId,
  details: Partial<Pick<RollbackFrame, "attempt" | "willRetry" | "error">> = {},
): RollbackFrame {
  return {
    type: "rollback",
    offset,
    hashedStepId,
    attempt: details.attempt ?? 1,
    willRetry: details.willRetry ?? true,
    error: details.error ?? { name: "Error", message: "boom" },
  };
}

/**
 * A redirect frame to `url` (reason `sleep` unless given).
 *
 * @example
 * ```ts
 * redirectFrame(`/api/durable/${RUN_ID}?token=t0k`, "retry");
 * ```
 */
export function redirectFrame(url: string, reason: RedirectReason = "sleep"): RedirectFrame {
  return { type: "redirect", url, reason };
}

/**
 * A result frame: by default a succeeded run whose response is a `200 OK` JSON text body;
 * `response` overrides fields of the response snapshot, `outcome` the run's status.
 *
 * @example
 * ```ts
 * resultFrame("1-6", '"Hello world"');
 * resultFrame("1-1", "Step failed", { status: 500, statusText: "Internal Server Error" }, "failed");
 * ```
 */
export function resultFrame(offset: string, body: string, response: Partial<ResponseSnapshot> = {}, outcome: ResultFrame["status"] = "succeeded"): ResultFrame {
  return {
    type: "result",
    offset,
    status: outcome,
    response: {
      status: 200,
      statusText: "OK",
      headers: [["content-type", "application/json"]],
      body,
      bodyEncoding: "text",
      ...response,
    },
  };
}

/**
 * SSE text of frames, as a server writes them.
 *
 * @example
 * ```ts
 * sse({ type: "commit", offset: "1-2", hashedStepId: null });
 * ```
 */
export function sse(...frames: Frame[]): string {
  return frames.map((frame) => encodeFrame(frame)).join("");
}
