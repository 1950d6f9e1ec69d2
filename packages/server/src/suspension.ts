import type { RedirectReason } from "@durastream/protocol";
import type { ReceivedEvent } from "./context.js";
import { nextTurn } from "./event-loop.js";
import { InFlight } from "./in-flight.js";
import type { ExecutionEnd } from "./run-types.js";

/** A step that waits for longer than the live connection may: a long sleep, backoff or event wait. */
export interface BlockingWait {
  readonly wakeAt: number;
  readonly reason: RedirectReason;
  /** Resolves the step in this execution (event waits delivered in-process). */
  readonly resolve?: (value: ReceivedEvent | null) => void;
}

/**
 * When a run suspends, and who hears of it. A run suspends once all it does is wait: after a turn
 * of the event loop, no step is doing work (`working` is 0: no attempt, store write or short wait
 * under way) and at least one step waits in a {@link BlockingWait}. Then `suspend` (the run's
 * write of the suspension) is called with the earliest wait. Once that is stored the run calls
 * `suspended`, which settles the execution's `stopped()` promise and tells the `onSwitch`
 * listeners (live connections) to redirect to the wait endpoint.
 */
export class Suspension {
  /** Step work under way that is not a blocking wait; the run does not suspend while there is any. */
  readonly working = new InFlight();
  readonly #blocking = new Map<string, BlockingWait>();
  readonly #switchListeners = new Set<(reason: RedirectReason) => void>();
  readonly #mayStart: () => boolean;
  readonly #suspend: (wakeAt: number, reason: RedirectReason) => void;
  #checkScheduled = false;
  /** Settles the promise `stopped()` handed out. */
  #stop: ((end: ExecutionEnd) => void) | null = null;
  /** Why the run switched to the background, once it has. */
  #switchedFor: RedirectReason | null = null;

  /**
   * @param mayStart Whether the run may suspend now (it is executing, not stopping otherwise).
   * @param suspend Stores the suspension; calls `suspended` once it is stored.
   */
  constructor(mayStart: () => boolean, suspend: (wakeAt: number, reason: RedirectReason) => void) {
    this.#mayStart = mayStart;
    this.#suspend = suspend;
  }

  /** Settles when this execution stops without finishing: suspended or lost. */
  stopped(): Promise<ExecutionEnd> {
    return new Promise<ExecutionEnd>((resolve) => (this.#stop = resolve));
  }

  /** The execution was lost (another executor owns the run): `stopped()` settles with `lost`. */
  lost(): void {
    this.#stop?.({ kind: "lost" });
  }

  /** The suspension is stored: `stopped()` settles, and live connections hear the switch. */
  suspended(wakeAt: number, reason: RedirectReason): void {
    this.#switchedFor = reason;
    this.#stop?.({ kind: "suspended", wakeAt, reason });
    for (const listener of this.#switchListeners) listener(reason);
    this.#switchListeners.clear();
  }

  /**
   * Calls `listener` when the run suspends (at once if it has already), so live connections can
   * redirect. Returns the remover.
   */
  onSwitch(listener: (reason: RedirectReason) => void): () => void {
    if (this.#switchedFor !== null) {
      listener(this.#switchedFor);
      return () => {};
    }
    this.#switchListeners.add(listener);
    return () => this.#switchListeners.delete(listener);
  }

  /** The step waits in `wait`; the run may suspend after this turn. */
  block(hashedStepId: string, wait: BlockingWait): void {
    this.#blocking.set(hashedStepId, wait);
    this.scheduleCheck();
  }

  /** Whether some step of this execution waits for an event that can be delivered in-process. */
  get hasEventWaits(): boolean {
    for (const wait of this.#blocking.values()) if (wait.resolve !== undefined) return true;
    return false;
  }

  /** Whether the step waits for an event in this execution (so a delivery can resolve it). */
  isWaitingForEvent(hashedStepId: string): boolean {
    return this.#blocking.get(hashedStepId)?.resolve !== undefined;
  }

  /** Resolves the step's event wait with `event`; it no longer blocks the run. */
  deliver(hashedStepId: string, event: ReceivedEvent | null): void {
    const wait = this.#blocking.get(hashedStepId);
    if (wait?.resolve === undefined) return;
    this.#blocking.delete(hashedStepId);
    wait.resolve(event);
  }

  /** After this turn, suspends the run if all it does is wait (no step working, some wait pending). */
  scheduleCheck(): void {
    if (this.#checkScheduled) return;
    this.#checkScheduled = true;
    void nextTurn().then(() => {
      this.#checkScheduled = false;
      if (!this.#mayStart() || this.working.count > 0 || this.#blocking.size === 0) return;
      let wakeAt = Number.POSITIVE_INFINITY;
      let reason: RedirectReason = "sleep";
      for (const wait of this.#blocking.values()) {
        if (wait.wakeAt < wakeAt) ({ wakeAt, reason } = wait);
      }
      this.#suspend(wakeAt, reason);
    });
  }
}
