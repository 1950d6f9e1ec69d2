// Constants and fixtures shared by the conformance suite's modules.
import type { LogFrameType, ResponseSnapshot } from "@durastream/protocol";
import { StoreRefusedError } from "@durastream/server/store";
import type { FrameToAppend, LogEntry, NewRun, RequestSnapshot, RunRecord, StepRecord, StoreErrorReason } from "@durastream/server/store";
import { expect } from "vitest";

export const RETENTION = 60_000;
export const START = 1_700_000_000_000;
export const LEASE = 30_000;
const SETTLE_MILLISECONDS = 50;

export function newRunOf(run: RunRecord): NewRun {
  const { runId, endpointId, createdAt, request, owner, leaseExpiresAt } = run;
  return { runId, endpointId, createdAt, request, owner: owner ?? "owner-1", leaseExpiresAt };
}

/** Waits long enough for a store's asynchronous notifications (if any) to arrive. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, SETTLE_MILLISECONDS));
}

export async function expectRefused(promise: Promise<unknown>, reason: StoreErrorReason): Promise<void> {
  const outcome = await promise.then(
    (value) => ({ resolved: true as const, value }),
    (error: unknown) => ({ resolved: false as const, error }),
  );
  expect(outcome.resolved, `expected a StoreRefusedError (${reason}), but the call resolved`).toBe(false);
  const { error } = outcome as { error: unknown };
  expect(StoreRefusedError.isInstance(error), `expected a StoreRefusedError (${reason}), got ${String(error)}`).toBe(true);
  expect((error as StoreRefusedError).reason).toBe(reason);
}

/** The fields of log entries that the interface defines. */
export function entriesOf(entries: readonly LogEntry[]): LogEntry[] {
  return entries.map(({ offset, type, payload }) => ({ offset, type, payload }));
}

export function bySequence(a: string, b: string): number {
  return Number(a.split("-")[1]) - Number(b.split("-")[1]);
}

export function dataPayload(text: string): string {
  return JSON.stringify({ hashedStepId: null, data: text });
}

export function dataFrames(count: number, prefix = "f"): FrameToAppend[] {
  return Array.from({ length: count }, (_, index) => ({ type: "data" as LogFrameType, payload: dataPayload(`${prefix}${index}`) }));
}

export function hashedId(position: number): string {
  return position.toString(16).padStart(8, "0").repeat(5);
}

export function runStep(position: number, overrides: Partial<StepRecord> = {}): StepRecord {
  return {
    hashedStepId: hashedId(position),
    stepId: `step-${position}`,
    position,
    kind: "run",
    status: "succeeded",
    output: JSON.stringify({ position }),
    attempts: 1,
    ...overrides,
  };
}

export function waitingStep(event: string, match: Record<string, unknown> | undefined, deadline: number | undefined, position = 0): StepRecord {
  return {
    hashedStepId: hashedId(100 + position),
    stepId: `wait-${position}`,
    position,
    kind: "wait-for-event",
    status: "waiting",
    attempts: 0,
    event,
    ...(match === undefined ? {} : { match }),
    ...(deadline === undefined ? {} : { wakeAt: deadline }),
  };
}

export const base64Request: RequestSnapshot = {
  method: "POST",
  url: "https://app.example/api/upload?name=r%C3%A9sum%C3%A9.pdf&x=1",
  headers: [
    ["x-zeta", "last-alphabetically, first"],
    ["content-type", "application/octet-stream"],
    ["x-alpha", "ünïcødé value"],
    ["x-zeta", "repeated"],
  ],
  body: "AAECA/7/gICAJVBERi0xLjQK8J+YgA==",
  bodyEncoding: "base64",
};

export const textRequest: RequestSnapshot = {
  method: "POST",
  url: "https://app.example/api/chat",
  headers: [["content-type", "application/json"]],
  body: JSON.stringify({ prompt: "Say hi — 你好 😀", lines: "a\nb\r\nc" }),
  bodyEncoding: "text",
};

export const emptyRequest: RequestSnapshot = {
  method: "GET",
  url: "https://app.example/api/chat?q=1",
  headers: [],
  body: null,
  bodyEncoding: "text",
};

export const response: ResponseSnapshot = {
  status: 201,
  statusText: "Created",
  headers: [
    ["x-z", "1"],
    ["content-type", "application/json"],
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2"],
  ],
  body: '{"ok":true,"text":"😀"}',
  bodyEncoding: "text",
};
