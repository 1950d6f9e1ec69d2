import { InvalidOptionsError } from "@durastream/protocol";
import type { ReceivedEvent, WaitForEventOptions } from "./context.js";
import { toMilliseconds } from "./duration.js";
import type { StepHost } from "./step-host.js";
import { nonDeterministic, parseOutput } from "./step-journal.js";

/**
 * `step.sleep` / `step.sleepUntil` in a durable execution: journals the wake time (once), then
 * waits until it, on the live connection when short, else by suspending the run.
 */
export async function sleepStep(host: StepHost, id: string, wakeAtFrom: (now: number) => number): Promise<void> {
  const { hashedStepId, position, memo } = await host.enterStep(id, "step.sleep");
  let wakeAt: number;
  if (memo !== undefined) {
    if (memo.kind !== "sleep") throw nonDeterministic(id, position, memo);
    wakeAt = memo.wakeAt ?? 0;
  } else {
    wakeAt = wakeAtFrom(host.settings.timers.now());
    const stopWorking = host.suspension.working.enter();
    try {
      await host.storeOrStop([], { step: { hashedStepId, stepId: id, position, kind: "sleep", status: "sleeping", attempts: 0, wakeAt } });
    } finally {
      stopWorking();
    }
  }
  await host.wait(hashedStepId, wakeAt, "sleep");
}

/**
 * `step.waitForEvent` in a durable execution: journals the wait (once), then resolves with the
 * delivered event, with null at the timeout, or suspends the run until one of them.
 */
export async function waitForEventStep(host: StepHost, id: string, options: WaitForEventOptions): Promise<ReceivedEvent | null> {
  if (typeof options !== "object" || options === null || typeof options.event !== "string" || options.event === "") {
    throw new InvalidOptionsError(`step.waitForEvent("${id}", options): options.event must be the event name to wait for.`);
  }
  if (options.match !== undefined && (typeof options.match !== "object" || options.match === null)) {
    throw new InvalidOptionsError(`step.waitForEvent("${id}"): match must be an object of dot-paths to values, e.g. { "data.orderId": id }.`);
  }
  const timeout = toMilliseconds(options.timeout, `step.waitForEvent("${id}") timeout`);
  const { hashedStepId, position, memo } = await host.enterStep(id, "step.waitForEvent");
  let entry = memo;
  if (entry !== undefined && entry.kind !== "wait-for-event") throw nonDeterministic(id, position, entry);
  if (entry === undefined) {
    entry = {
      hashedStepId,
      stepId: id,
      position,
      kind: "wait-for-event",
      status: "waiting",
      attempts: 0,
      wakeAt: host.settings.timers.now() + timeout,
      event: options.event,
      ...(options.match === undefined ? {} : { match: options.match }),
    };
    const stopWorking = host.suspension.working.enter();
    try {
      await host.storeOrStop([], { step: entry });
    } finally {
      stopWorking();
    }
  }
  if (entry.status === "succeeded") return parseOutput(entry) as ReceivedEvent | null;
  if ((entry.wakeAt ?? 0) <= host.settings.timers.now()) {
    await host.storeOrStop([], { step: { ...entry, status: "succeeded", output: "null" } });
    return null;
  }
  const deadline = entry.wakeAt ?? 0;
  return new Promise<ReceivedEvent | null>((resolve) => {
    host.suspension.block(hashedStepId, { wakeAt: deadline, reason: "wait-for-event", resolve });
    host.watchDeliveries();
  });
}
