// Helpers for testing durable endpoints: reading SSE responses into frames, manual timers, waiting for conditions.
import { createFrameDecoder, type Frame, type ProtocolError } from "@durastream/protocol";
import type { Timers } from "@durastream/server";

/** Reads a whole SSE response into frames; fails the test on any decoder error. */
export async function collectFrames(response: Response): Promise<Frame[]> {
  const frames: Frame[] = [];
  const errors: ProtocolError[] = [];
  const decoder = createFrameDecoder({ onFrame: (frame) => frames.push(frame), onError: (error) => errors.push(error) });
  const reader = response.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    decoder.feed(value);
  }
  decoder.end();
  if (errors.length > 0) throw errors[0];
  return frames;
}

/** An SSE request to a test endpoint. */
export function sseRequest(url = "http://localhost/chat", init: RequestInit = {}): Request {
  const headers = new Headers(init.headers);
  headers.set("accept", "text/event-stream");
  return new Request(url, { ...init, headers });
}

/** Timers that only move when the test says so. */
export interface ManualTimers extends Timers {
  /** Delays of the timers set so far, in order. */
  readonly scheduled: number[];
  /** Number of timers waiting. */
  pending(): number;
  /** Fires every waiting timer due within `milliseconds` from now, in due order. */
  advance(milliseconds: number): void;
  /** Resolves once a timer is waiting (polling microtasks and macrotasks, never the clock). */
  untilPending(count?: number): Promise<void>;
}

export function createManualTimers(): ManualTimers {
  let now = 0;
  let nextId = 1;
  const timers = new Map<number, { due: number; callback: () => void }>();
  const scheduled: number[] = [];
  return {
    scheduled,
    now: () => now,
    setTimeout(callback, milliseconds) {
      const id = nextId++;
      scheduled.push(milliseconds);
      timers.set(id, { due: now + milliseconds, callback });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    pending: () => timers.size,
    advance(milliseconds) {
      const until = now + milliseconds;
      for (;;) {
        let first: [number, { due: number; callback: () => void }] | undefined;
        for (const entry of timers) if (entry[1].due <= until && (first === undefined || entry[1].due < first[1].due)) first = entry;
        if (first === undefined) break;
        timers.delete(first[0]);
        now = first[1].due;
        first[1].callback();
      }
      now = until;
    },
    async untilPending(count = 1) {
      for (let spins = 0; timers.size < count; spins += 1) {
        if (spins > 10_000) throw new Error(`untilPending: still ${timers.size} timers after 10000 turns of the event loop`);
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
  };
}

/**
 * Resolves once `condition()` holds: checks after each turn of the event loop at first, then every
 * few milliseconds (so work waiting on real I/O, such as Redis replies, can finish), and gives up
 * after `timeoutMs` with an error naming `what`. A condition to wait for, never a fixed sleep.
 */
export async function until(condition: () => boolean, what = "condition", timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  for (let spins = 0; !condition(); spins += 1) {
    if (Date.now() - started > timeoutMs) throw new Error(`until: ${what} still false after ${timeoutMs} ms`);
    await new Promise((resolve) => (spins < 1000 ? setImmediate(resolve) : setTimeout(resolve, 2)));
  }
}

/**
 * Moves a manual clock forward by `milliseconds` in steps, letting the event loop turn between
 * steps so that timers set by async work (the scheduler re-arming itself) fire too. With a store
 * over the network, `ioWait` (real ms per step) lets replies arrive between steps.
 */
export async function passTime(timers: ManualTimers, milliseconds: number, stepSize = 1000, ioWait = 0): Promise<void> {
  for (let elapsed = 0; elapsed < milliseconds; ) {
    const step = Math.min(stepSize, milliseconds - elapsed);
    timers.advance(step);
    elapsed += step;
    for (let turn = 0; turn < 3; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    if (ioWait > 0) await new Promise((resolve) => setTimeout(resolve, ioWait));
  }
  // Timers that async work set for "now" (delay 0) after the last step.
  for (let round = 0; round < 5; round += 1) {
    timers.advance(0);
    for (let turn = 0; turn < 3; turn += 1) await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Moves a manual clock forward `stepSize` at a time until `condition()` holds, letting async work
 * (including real I/O, `ioWait` ms per step) run between steps. Fails once the clock has moved
 * `maxAdvance` without the condition holding. For "after enough time has passed, X happens" with a
 * scheduler that re-arms its timers asynchronously.
 */
export async function advanceUntil(
  timers: ManualTimers,
  condition: () => boolean,
  options: { what?: string; stepSize?: number; maxAdvance?: number; ioWait?: number } = {},
): Promise<void> {
  const { what = "condition", stepSize = 1000, maxAdvance = 10 * 60_000, ioWait = 2 } = options;
  for (let advanced = 0; !condition(); advanced += stepSize) {
    if (advanced > maxAdvance) throw new Error(`advanceUntil: ${what} still false after moving the clock ${maxAdvance} ms`);
    timers.advance(stepSize);
    for (let turn = 0; turn < 3; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    if (ioWait > 0) await new Promise((resolve) => setTimeout(resolve, ioWait));
  }
}

/**
 * The committed view a client computes from a log: the chunks of each step once its commit
 * arrives, in log order; chunks of rolled-back attempts dropped.
 */
export function committedData(frames: readonly Frame[]): unknown[] {
  const committed: unknown[] = [];
  const pending = new Map<string | null, unknown[]>();
  for (const frame of frames) {
    if (frame.type === "data") pending.set(frame.hashedStepId, [...(pending.get(frame.hashedStepId) ?? []), frame.data]);
    else if (frame.type === "commit") {
      committed.push(...(pending.get(frame.hashedStepId) ?? []));
      pending.delete(frame.hashedStepId);
    } else if (frame.type === "rollback") pending.delete(frame.hashedStepId);
  }
  return committed;
}
