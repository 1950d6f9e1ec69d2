import { DurableClientError, InvalidOptionsError, type FetchFunction } from "@durastream/client";

/**
 * A tool approval decision, as {@link sendToolApproval} sends it: the `approval.id` of the tool
 * part in state `approval-requested`, whether the call is approved, and an optional reason (the
 * model gets it with a denial).
 *
 * @example
 * ```ts
 * const decision: ToolApprovalDecision = { approvalId: part.approval.id, approved: true };
 * ```
 */
export interface ToolApprovalDecision {
  readonly approvalId: string;
  readonly approved: boolean;
  readonly reason?: string;
}

/**
 * Options of {@link sendToolApproval}: a `RequestInit` for the `POST` (headers, credentials,
 * `signal`; method and body are set), and the `fetch` to send it with.
 *
 * @example
 * ```ts
 * const init: SendToolApprovalInit = { credentials: "include", headers: { "x-csrf-token": token } };
 * ```
 */
export interface SendToolApprovalInit extends Omit<RequestInit, "method" | "body"> {
  /** The `fetch` to send the request with. Defaults to `globalThis.fetch`. */
  fetch?: FetchFunction;
}

/** The server's `{ message }` of an error answer, if it sent one. */
async function messageOf(response: Response): Promise<string | undefined> {
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (typeof body?.message === "string") return body.message;
  } catch {
    // not JSON: use the text itself
  }
  return text.trim() === "" ? undefined : text.trim().slice(0, 500);
}

/**
 * Sends a user's decision on a tool approval request to the app's approval route (one served by
 * `uiMessageApprovalHandler` from `@durastream/ai`): `POST url` with the JSON body
 * `{ approvalId, approved, reason? }`. The `durableChat` run waiting for it goes on, and its
 * answer continues on the connection that is reading it (the stock `useChat` stream, or
 * `createDurableChatTransport`'s): the tool runs (or is denied), then the next model call.
 *
 * Call it next to the chat's `addToolApprovalResponse({ id, approved })`, which updates the tool
 * part at once (it does not send anything while the chat is streaming).
 *
 * Resolves with `{ delivered }` (how many runs were waiting: 1) on a 2xx answer. Rejects with a
 * `DurableClientError`: `HTTP` (with `status`) for any other answer — `404` when no run waits for
 * this approval any more (decided already, timed out, the run ended), `400` for a malformed
 * decision, `401`/`403` from the app's authorization — and `NETWORK` when the request failed;
 * with the signal's reason when `init.signal` aborted it. Throws an `InvalidOptionsError` for bad
 * arguments.
 *
 * @example
 * ```tsx
 * import { sendToolApproval } from "@durastream/ai/client";
 *
 * async function decide(approvalId: string, approved: boolean) {
 *   await addToolApprovalResponse({ id: approvalId, approved });
 *   await sendToolApproval("/api/chat/approve", { approvalId, approved });
 * }
 * ```
 */
export async function sendToolApproval(url: string | URL, decision: ToolApprovalDecision, init: SendToolApprovalInit = {}): Promise<{ delivered: number }> {
  if (typeof url !== "string" && !(url instanceof URL)) {
    throw new InvalidOptionsError(`sendToolApproval(url, decision): url must be the approval route (a string or URL), got ${String(url)}.`);
  }
  const { approvalId, approved, reason } = (decision ?? {}) as Partial<ToolApprovalDecision>;
  if (typeof approvalId !== "string" || approvalId === "") {
    throw new InvalidOptionsError("sendToolApproval(url, decision): decision.approvalId must be the tool part's approval.id (a non-empty string).");
  }
  if (typeof approved !== "boolean") throw new InvalidOptionsError("sendToolApproval(url, decision): decision.approved must be true or false.");
  if (reason !== undefined && typeof reason !== "string")
    throw new InvalidOptionsError("sendToolApproval(url, decision): decision.reason must be a string or left out.");

  const { fetch: fetchFunction = globalThis.fetch, headers, ...requestInit } = init;
  const target = String(url);
  const requestHeaders = new Headers(headers);
  requestHeaders.set("content-type", "application/json");
  let response: Response;
  try {
    response = await fetchFunction(target, {
      ...requestInit,
      method: "POST",
      headers: requestHeaders,
      body: JSON.stringify({ approvalId, approved, ...(reason === undefined ? {} : { reason }) }),
    });
  } catch (error) {
    if (requestInit.signal?.aborted === true) throw requestInit.signal.reason;
    throw new DurableClientError(
      "NETWORK",
      `Sending the tool approval to ${target} failed: the request did not get through. Check the network connection and retry.`,
      {
        cause: error,
        url: target,
      },
    );
  }
  if (!response.ok) {
    const message = await messageOf(response);
    const hint =
      response.status === 404
        ? " No run waits for this approval any more: it was decided already, it timed out, or the run ended (or the route is not mounted at this URL)."
        : response.status === 405
          ? " Mount uiMessageApprovalHandler for POST at this URL."
          : "";
    const detail = message === undefined ? hint : ` The server said: ${message}`;
    throw new DurableClientError("HTTP", `Sending the tool approval to ${target} failed with HTTP ${response.status}.${detail}`, {
      status: response.status,
      url: target,
    });
  }
  const body = (await response.json().catch(() => null)) as { delivered?: unknown } | null;
  return { delivered: typeof body?.delivered === "number" ? body.delivered : 1 };
}
