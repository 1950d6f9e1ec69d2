import type { HashedStepId } from "@durastream/client";
import type { UIMessageChunk } from "ai";

/** What the projection knows of one step that has streamed chunks and not committed yet. */
interface OpenStep {
  /** This step's `start-step` chunk was forwarded (in this attempt or an earlier one). */
  startStep: boolean;
  /** The current attempt forwarded chunks that a rollback makes void. */
  forwarded: boolean;
}

/** A UI message chunk, as far as a cheap check can tell: an object with a string `type`. */
function isUIMessageChunk(data: unknown): data is UIMessageChunk {
  return typeof data === "object" && data !== null && typeof (data as { type?: unknown }).type === "string";
}

const RESET_STEP: UIMessageChunk = { type: "reset-step" };

/**
 * Turns a durable chat run's frames into the UI message chunks a stock AI SDK client
 * (`DefaultChatTransport`, `useChat`) understands, as they arrive. Internal; used by
 * `uiMessageStreamHandler` (server) and `createDurableChatTransport` (`@durastream/ai/client`,
 * browser): it must stay free of server imports (checked by `client/client-imports.test.ts`).
 *
 * - data (a UI message chunk) → the chunk at once, uncommitted (the client renders it live);
 *   other data (not an object with a string `type`) is dropped, as the client's schema would fail
 *   the whole chat on it;
 * - commit → nothing;
 * - rollback of an attempt that forwarded chunks, in a step whose `start-step` was forwarded (a
 *   model call, `llm:<n>`) → `reset-step`: the client removes the parts after the last `step-start`,
 *   i.e. exactly this step's; the retry's own `start-step` is then dropped (the `step-start` part
 *   survived the reset), its `text-start` & co. are forwarded as usual;
 * - rollback of a step that forwarded no `start-step` (a tool step, `message`, `finish`) → nothing:
 *   a `reset-step` there would remove the previous step's parts. Such steps push only when they
 *   are done (`tool-output-*`, `start`, `finish`), so a rollback normally has nothing to retract;
 *   a tool's preliminary outputs stay until the retry's outputs replace them (same `toolCallId`);
 * - rollback of an attempt that forwarded nothing (e.g. `doStream` threw) → nothing.
 *
 * O(1) per frame: one map look-up (skipped while one step streams), no scan.
 */
export class UIChunkProjection {
  readonly #emit: (chunk: UIMessageChunk) => void;
  readonly #open = new Map<HashedStepId, OpenStep>();
  #lastId: HashedStepId | undefined;
  #last: OpenStep | undefined;

  constructor(emit: (chunk: UIMessageChunk) => void) {
    this.#emit = emit;
  }

  /** A data frame of step `hashedStepId` (`null` outside steps). */
  data(hashedStepId: HashedStepId, data: unknown): void {
    if (!isUIMessageChunk(data)) return;
    const step = this.#step(hashedStepId);
    if (data.type === "start-step") {
      if (step.startStep) return; // a retry's start-step: the step-start part survived the reset
      step.startStep = true;
    }
    step.forwarded = true;
    this.#emit(data);
  }

  /** The step's chunks are final. */
  commit(hashedStepId: HashedStepId): void {
    this.#forget(hashedStepId);
  }

  /** An attempt of the step failed: its uncommitted chunks are void. */
  rollback(hashedStepId: HashedStepId, willRetry: boolean): void {
    const step = this.#open.get(hashedStepId);
    if (step === undefined) return; // nothing forwarded for this step
    if (step.forwarded && step.startStep) this.#emit(RESET_STEP);
    step.forwarded = false;
    if (!willRetry) this.#forget(hashedStepId);
  }

  #step(hashedStepId: HashedStepId): OpenStep {
    if (hashedStepId === this.#lastId && this.#last !== undefined) return this.#last;
    let step = this.#open.get(hashedStepId);
    if (step === undefined) {
      step = { startStep: false, forwarded: false };
      this.#open.set(hashedStepId, step);
    }
    this.#lastId = hashedStepId;
    this.#last = step;
    return step;
  }

  #forget(hashedStepId: HashedStepId): void {
    this.#open.delete(hashedStepId);
    if (hashedStepId === this.#lastId) {
      this.#lastId = undefined;
      this.#last = undefined;
    }
  }
}
