import type { AddressInfo } from "node:net";
import { fetchWithStream, resumeStream, type FetchWithStreamOptions } from "@durastream/client";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createDurable, step, stream, type DurableHandler } from "@durastream/server";
import { createEndpointServer } from "@durastream/server/node";
import type { RunStore } from "@durastream/server/store";
import { collectFrames, createManualTimers, passTime, committedData } from "./helpers.js";

/** One step of a generated program. */
interface StepSpec {
  readonly chunks: number;
  /** Attempts (1–3) that throw; the first attempt not listed succeeds. */
  readonly failOn: readonly number[];
  /** Chunks a failing attempt streams before it throws. */
  readonly failAfter: number;
  /** Runs in parallel with the next step. */
  readonly parallel: boolean;
  /** A sleep after the step, long enough to suspend the run and redirect the client. */
  readonly sleepAfter: boolean;
}

interface Program {
  readonly outside: number;
  readonly steps: readonly StepSpec[];
  /** Data-frame counts at which the client drops its connection ("drop") or reloads ("reload"). */
  readonly faults: readonly { readonly at: number; readonly kind: "drop" | "reload" }[];
}

const programs: fc.Arbitrary<Program> = fc.record({
  outside: fc.integer({ min: 0, max: 2 }),
  steps: fc.array(
    fc.record({
      chunks: fc.integer({ min: 1, max: 4 }),
      failOn: fc.subarray([1, 2, 3]),
      failAfter: fc.integer({ min: 0, max: 3 }),
      parallel: fc.boolean(),
      sleepAfter: fc.boolean(),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  faults: fc.array(fc.record({ at: fc.integer({ min: 1, max: 25 }), kind: fc.constantFrom("drop" as const, "reload" as const) }), { maxLength: 3 }),
});

function handlerFor(program: Program): DurableHandler {
  const runStep = (spec: StepSpec, index: number) =>
    step.run(`step-${index}`, ({ attempt }) => {
      const failing = spec.failOn.includes(attempt);
      const count = failing ? Math.min(spec.failAfter, spec.chunks) : spec.chunks;
      for (let chunk = 0; chunk < count; chunk += 1) stream.push(`s${index}a${attempt}c${chunk}`);
      if (failing) throw new Error(`step ${index} fails on attempt ${attempt}`);
      return index;
    });
  return async () => {
    for (let chunk = 0; chunk < program.outside; chunk += 1) stream.push(`outside${chunk}`);
    for (let index = 0; index < program.steps.length; index += 1) {
      const spec = program.steps[index]!;
      const next = program.steps[index + 1];
      if (spec.parallel && next !== undefined) {
        await Promise.all([runStep(spec, index), runStep(next, index + 1)]);
        if (spec.sleepAfter || next.sleepAfter) await step.sleep(`sleep-${index}`, "1m");
        index += 1;
      } else {
        await runStep(spec, index);
        if (spec.sleepAfter) await step.sleep(`sleep-${index}`, "1m");
      }
    }
    return new Response("done");
  };
}

/** The chunks each step must commit, exactly once: those of its first attempt that succeeds. */
function expectedChunks(program: Program): string[] {
  const chunks = Array.from({ length: program.outside }, (_, chunk) => `outside${chunk}`);
  program.steps.forEach((spec, index) => {
    const attempt = [1, 2, 3, 4].find((candidate) => !spec.failOn.includes(candidate))!;
    for (let chunk = 0; chunk < spec.chunks; chunk += 1) chunks.push(`s${index}a${attempt}c${chunk}`);
  });
  return chunks;
}

/**
 * Registers a fast-check property over random fault schedules — step failures at random attempts,
 * parallel streaming steps, sleeps that suspend the run and redirect the client, connections that
 * drop at random frames (the client reconnects) and page reloads (the client resumes from its
 * persisted state) — checking the committed-view guarantee against a store made by `factory`:
 * what the client holds as committed is always a prefix of the run's final committed output, and
 * equals it at the end; every step's chunks are committed exactly once.
 *
 * @example
 * ```ts
 * import { defineCommittedViewProperty } from "@durastream/testing";
 * defineCommittedViewProperty("MyStore", async () => ({ store: new MyStore(), close: async () => {} }));
 * ```
 */
export function defineCommittedViewProperty(
  name: string,
  factory: () => Promise<{ store: RunStore; close: () => Promise<void> }>,
  options: { numRuns?: number; seed?: number } = {},
): void {
  describe(`committed view under random faults (${name})`, () => {
    it("is always a prefix of the run's final committed output, and equals it at the end", async () => {
      await fc.assert(
        fc.asyncProperty(programs, async (program) => {
          const { store, close } = await factory();
          const timers = createManualTimers();
          // The clock below runs far ahead of real time (a minute per few event-loop turns) to wake
          // sleeping runs; leases and tokens last a year on it so that a store round trip never
          // outlives a lease (a takeover would rightly count the interrupted attempt) or a token.
          // Leases and takeovers are the chaos property's subject, not this one's.
          const year = 365 * 24 * 3_600_000;
          const durable = createDurable({ store, timers, backoff: () => 0, maxInlineWait: 1000, leaseDuration: year, resumeTokenTtl: year });
          const endpoint = durable.endpoint(handlerFor(program), { id: "property" });
          const waitEndpoint = durable.waitEndpoint();
          const server = createEndpointServer((request) =>
            new URL(request.url).pathname.startsWith("/api/durable/") ? waitEndpoint(request) : endpoint(request),
          );
          await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
          const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/run`;
          let finished = false;
          const clock = (async () => {
            while (!finished) await passTime(timers, 60_000, 60_000);
          })();
          try {
            // The client's state, as a UI keeps it.
            let committed: string[] = [];
            let pending = new Map<string | null, string[]>();
            const snapshots: string[][] = [];
            let dataSeen = 0;
            let resumeUrl: string | null = null;
            let lastSeen: string | undefined;
            // What a page persists to survive a reload: committed chunks as of an offset where no chunk was pending.
            let safe = { offset: undefined as string | undefined, committed: 0 };
            const faults = [...program.faults].sort((a, b) => a.at - b.at);
            let reloading: AbortController | null = null;
            const markSafe = (offset: string) => {
              lastSeen = offset;
              if (pending.size === 0) safe = { offset, committed: committed.length };
            };
            const callbacks = (controller: AbortController): FetchWithStreamOptions => ({
              fetchOpts: { signal: controller.signal },
              reconnect: { initialDelay: 0 },
              onMetadata: ({ resumeUrl: latest }) => {
                resumeUrl = latest ?? resumeUrl;
              },
              onData: ({ data, hashedStepId, offset }) => {
                pending.set(hashedStepId, [...(pending.get(hashedStepId) ?? []), String(data)]);
                lastSeen = offset;
                dataSeen += 1;
                while (faults.length > 0 && faults[0]!.at <= dataSeen) {
                  const fault = faults.shift()!;
                  if (fault.kind === "drop") server.closeAllConnections();
                  else if (reloading === null) {
                    reloading = controller;
                    controller.abort();
                  }
                }
              },
              onCommit: ({ hashedStepId, offset }) => {
                committed.push(...(pending.get(hashedStepId) ?? []));
                pending.delete(hashedStepId);
                snapshots.push([...committed]);
                markSafe(offset);
              },
              onRollback: ({ hashedStepId, offset }) => {
                pending.delete(hashedStepId);
                markSafe(offset);
              },
            });
            let controller = new AbortController();
            let response: Response | undefined;
            let attempt: Promise<Response> = fetchWithStream(url, callbacks(controller));
            for (let reloads = 0; response === undefined; reloads += 1) {
              try {
                response = await attempt;
              } catch (error) {
                if (reloading === null || reloads > 5) throw error;
                // The page reloads: it keeps what it persisted and resumes from there.
                reloading = null;
                committed = committed.slice(0, safe.committed);
                pending = new Map();
                controller = new AbortController();
                attempt = resumeStream(resumeUrl!, { ...callbacks(controller), ...(safe.offset === undefined ? {} : { offset: safe.offset }) });
              }
            }
            expect(await response.text()).toBe("done");
            expect(lastSeen).toBeDefined();

            const log = await collectFrames(await waitEndpoint(new Request(resumeUrl!, { headers: { accept: "text/event-stream" } })));
            const final = committedData(log).map(String);
            const describeLog = () =>
              log
                .map((frame) => `${frame.type}${"offset" in frame ? ` ${frame.offset}` : ""}${frame.type === "data" ? ` ${String(frame.data)}` : ""}`)
                .join(", ");
            for (const snapshot of snapshots) expect(final.slice(0, snapshot.length), `log: ${describeLog()}`).toEqual(snapshot);
            expect(committed).toEqual(final);
            expect([...final].sort()).toEqual(expectedChunks(program).sort());
          } finally {
            finished = true;
            await clock;
            durable.close();
            server.closeAllConnections();
            await new Promise<void>((resolve) => server.close(() => resolve()));
            await close();
          }
        }),
        { numRuns: options.numRuns ?? 25, ...(options.seed === undefined ? {} : { seed: options.seed }) },
      );
    }, 120_000);
  });
}
