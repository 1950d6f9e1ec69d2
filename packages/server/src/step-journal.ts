import { InvalidOptionsError, hashStepId } from "@durastream/protocol";
import { DurableError, StepFailedError } from "./errors.js";
import { assertWellFormedId } from "./ids.js";
import type { StepRecord } from "./store/run-store.js";

/** Where a step call lands in the run: its hashed id, its call position, its journal entry if any. */
export interface EnteredStep {
  readonly hashedStepId: string;
  readonly position: number;
  /** The journal entry of this step from an earlier execution (or this one): replayed, not run. */
  readonly memo: StepRecord | undefined;
}

/**
 * One execution's view of the run's step journal: numbers step calls in the order the handler
 * makes them, resolves repeated ids to `id:N`, hashes ids in call order, and finds each call's
 * journal entry, refusing a call that does not match what the journal has at its position
 * (`NON_DETERMINISTIC`). Entries stored during this execution are added with `remember`.
 */
export class StepJournal {
  readonly #byId = new Map<string, StepRecord>();
  readonly #byPosition = new Map<number, StepRecord>();
  /** Step ids taken in this execution, repeats included as `id:N` (see `#repeatOf`). */
  readonly #takenIds = new Set<string>();
  /** Per id, the lowest repeat index `#repeatOf` may try next. */
  readonly #nextRepeat = new Map<string, number>();
  #nextPosition = 0;
  #hashes: Promise<unknown> = Promise.resolve();

  constructor(journal: readonly StepRecord[]) {
    for (const entry of journal) this.remember(entry);
  }

  /** Keeps a stored journal entry for this execution's memo and replay-order checks. */
  remember(entry: StepRecord): void {
    this.#byId.set(entry.hashedStepId, entry);
    this.#byPosition.set(entry.position, entry);
  }

  /**
   * Takes the next call position and repeat index for a step call with `id`. Synchronous, so
   * calls are numbered in the order the handler made them.
   */
  number(id: string): { position: number; repeat: number } {
    const repeat = this.#repeatOf(id);
    return { position: this.#nextPosition++, repeat };
  }

  /** Hashes the id; hashes resolve in call order, so parallel steps start in the order the handler called them. */
  hash(id: string, repeat: number): Promise<string> {
    const hashed = this.#hashes.then(() => hashStepId(id, repeat));
    this.#hashes = hashed.catch(() => {});
    return hashed;
  }

  /** The call at `position` with this hashed id, checked against the journal; with its entry if it has one. */
  find(id: string, position: number, hashedStepId: string): EnteredStep {
    const atPosition = this.#byPosition.get(position);
    if (atPosition !== undefined && atPosition.hashedStepId !== hashedStepId) throw nonDeterministic(id, position, atPosition);
    return { hashedStepId, position, memo: this.#byId.get(hashedStepId) };
  }

  /**
   * The repeat index a step call with `id` hashes under, as Inngest resolves it: 0 (the id as
   * given) when `id` is not taken yet in this execution; otherwise the lowest N, counting up from
   * the last one given to `id`, whose `id:N` is not taken either (a step literally named `"a:1"`
   * makes the second `"a"` hash `"a:2"`, not collide with it). Takes the resolved id. Depends only
   * on the order of step calls, so a replay resolves every call alike.
   */
  #repeatOf(id: string): number {
    if (!this.#takenIds.has(id)) {
      this.#takenIds.add(id);
      return 0;
    }
    let repeat = this.#nextRepeat.get(id) ?? 1;
    while (this.#takenIds.has(`${id}:${repeat}`)) repeat += 1;
    this.#nextRepeat.set(id, repeat + 1);
    this.#takenIds.add(`${id}:${repeat}`);
    return repeat;
  }
}

/** Throws `INVALID_OPTIONS` unless `id` is a non-empty, well-formed step id. */
export function assertStepId(id: unknown, what: string): asserts id is string {
  if (typeof id !== "string" || id === "") {
    throw new InvalidOptionsError(`${what}(id, …): id must be a non-empty string, e.g. ${what}("fetch-user", …).`);
  }
  assertWellFormedId(id, `${what}(id, …)`);
}

/** The error of a step call that does not match the journal entry at its position. */
export function nonDeterministic(id: string, position: number, entry: StepRecord): DurableError {
  return new DurableError(
    "NON_DETERMINISTIC",
    `Step "${id}" (call ${position + 1} of this run) does not match the journal, which has "${entry.stepId}" (${entry.kind}) there. A durable handler must call its steps in the same order on every execution: keep branching on data that comes from steps, not on time, randomness or unstored input.`,
  );
}

/** A journal entry's stored output, parsed (undefined when the step returned nothing). */
export function parseOutput(entry: StepRecord): unknown {
  return entry.output === undefined ? undefined : JSON.parse(entry.output);
}

/** What a finished step's call gives the handler: its stored output, or a `StepFailedError`. */
export function replay<T>(entry: StepRecord): Awaited<T> {
  if (entry.status === "failed") {
    const cause = new Error(entry.error?.message ?? "Step failed");
    cause.name = entry.error?.name ?? "Error";
    throw new StepFailedError(entry.stepId, entry.attempts, cause);
  }
  return parseOutput(entry) as Awaited<T>;
}
