import { DurableClientError } from "@durastream/client";
import { expect } from "vitest";

/**
 * Waits for a promise to reject and returns the reason (fails the test if it resolves).
 *
 * @example
 * ```ts
 * const error = await rejectionOf(fetchWithStream(url));
 * ```
 */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("Expected the promise to reject, but it resolved.");
}

/**
 * Asserts `error` is a `DurableClientError` with `code`, and narrows its type.
 *
 * @example
 * ```ts
 * expectClientError(error, "NETWORK");
 * expect(error.url).toBe(URL_);
 * ```
 */
export function expectClientError(error: unknown, code: string): asserts error is DurableClientError {
  expect(DurableClientError.isInstance(error)).toBe(true);
  expect((error as DurableClientError).code).toBe(code);
}
