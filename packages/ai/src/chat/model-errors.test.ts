import { NonRetriableError, StepFailedError } from "@durastream/server";
import { APICallError, InvalidPromptError, NoSuchModelError, RetryError, StreamProviderError } from "ai";
import { describe, expect, it } from "vitest";
import { DurableAiError } from "../errors.js";
import { isRetryableModelError, toModelStepError } from "./model-errors.js";

const apiError = (statusCode: number) => new APICallError({ message: `HTTP ${statusCode}`, url: "u", requestBodyValues: {}, statusCode });

describe("model error classification", () => {
  it("follows APICallError.isRetryable: 408, 409, 429 and 5xx retry; 400, 401, 404 do not", () => {
    expect([408, 409, 429, 500, 503].map((status) => isRetryableModelError(apiError(status)))).toEqual([true, true, true, true, true]);
    expect([400, 401, 403, 404, 422].map((status) => isRetryableModelError(apiError(status)))).toEqual([false, false, false, false, false]);
  });

  it("follows a stream error's status, and retries one without a status", () => {
    expect(isRetryableModelError(new StreamProviderError({ message: "overloaded", statusCode: 529 }))).toBe(true);
    expect(isRetryableModelError(new StreamProviderError({ message: "bad input", statusCode: 400 }))).toBe(false);
    expect(isRetryableModelError(new StreamProviderError({ message: "server_error" }))).toBe(true);
  });

  it("unwraps RetryError and knows the permanent AI SDK errors", () => {
    const notRetryable = new RetryError({ message: "no", reason: "errorNotRetryable", errors: [apiError(400)] });
    const exhausted = new RetryError({ message: "tried", reason: "maxRetriesExceeded", errors: [apiError(503), apiError(503)] });
    expect(isRetryableModelError(notRetryable)).toBe(false);
    expect(isRetryableModelError(exhausted)).toBe(true);
    expect(isRetryableModelError(new InvalidPromptError({ prompt: "", message: "empty" }))).toBe(false);
    expect(isRetryableModelError(new NoSuchModelError({ modelId: "gpt-9", modelType: "languageModel" }))).toBe(false);
    expect(isRetryableModelError({ isRetryable: false, message: "gateway says no" })).toBe(false);
    expect(isRetryableModelError(new TypeError("fetch failed"))).toBe(true);
  });

  it("wraps what cannot be retried in a NonRetriableError and passes the rest through", () => {
    const badRequest = apiError(400);
    const wrapped = toModelStepError(badRequest);
    expect(NonRetriableError.isInstance(wrapped)).toBe(true);
    expect(wrapped).toMatchObject({ cause: badRequest, message: "The model call failed and cannot be retried: HTTP 400" });
    const unavailable = apiError(503);
    expect(toModelStepError(unavailable)).toBe(unavailable);
    const mock = new DurableAiError("MOCK_FAILURE", "injected");
    expect(toModelStepError(mock)).toBe(mock); // Durastream's own errors are the engine's to handle
    const failed = new StepFailedError("llm:0", 1, badRequest);
    expect(toModelStepError(failed)).toBe(failed);
  });
});
