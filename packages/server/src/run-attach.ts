import { PROTOCOL_VERSION, responseFromSnapshot, RUN_ID_HEADER } from "@durastream/protocol";
import type { ReportError } from "./background-errors.js";
import { acceptsEventStream, eventStreamHeaders } from "./event-stream.js";
import type { Executor } from "./executor.js";
import { createLogStream, type LiveStreams } from "./log-stream.js";
import { resumeUrl, type ResumeUrlOptions } from "./resume-url.js";
import type { RunStore, RunSummary } from "./store/run-store.js";
import { readRunSummary } from "./store/run-summary.js";
import { waitForRunResult } from "./run-result-wait.js";
import { attachTextBody } from "./text-body.js";
import type { Timers } from "./timers.js";

/** What attaching to a run needs (`createDurable`'s state and options). */
export interface AttachSettings {
  readonly store: RunStore;
  readonly timers: Timers;
  readonly executor: Executor;
  readonly keepAliveInterval: number;
  readonly maxConnectionDuration: number;
  readonly report: ReportError;
  readonly live: LiveStreams;
  readonly resumeUrls: ResumeUrlOptions;
}

/**
 * Serves an existing run to `request`, as a request that started it would be served, or null when
 * the run is unknown (or expired):
 * - with `Accept: text/event-stream`, the run's log from the start and then live, as the wait
 *   endpoint serves it (the same frames; the metadata frame carries a fresh resume URL), with a
 *   redirect frame to that URL after `maxConnectionDuration` or at shutdown;
 * - otherwise its final response once it has one (the stored response), or a `303` to the resume
 *   URL when the run outlasts `maxConnectionDuration` (or the process shuts down) first.
 * A run that is due (suspended with its time come, or left by a dead executor) is resumed here.
 */
export async function attachToRun(settings: AttachSettings, runId: string, request: Request): Promise<Response | null> {
  const { store, timers, executor, keepAliveInterval, maxConnectionDuration, report, live } = settings;
  const record = await readRunSummary(store, runId);
  if (record === undefined) return null;
  // As the wait endpoint does: a chance to run what is due (serverless hosts have no timers).
  if (record.status === "suspended" || record.status === "running") void executor.resume(runId).catch(() => {});
  const url = await resumeUrl(settings.resumeUrls, runId, request);
  if (!acceptsEventStream(request)) return waitForResult(settings, record, request, url);
  const body = createLogStream({
    store,
    runId,
    after: undefined,
    metadata: { type: "metadata", runId, protocolVersion: PROTOCOL_VERSION, resumeUrl: url },
    timers,
    keepAliveInterval,
    report,
    live,
    redirect: { url, maxDuration: maxConnectionDuration },
  });
  return attachTextBody(new Response(body.stream, { status: 200, headers: eventStreamHeaders(runId) }), body.source);
}

/**
 * Waits for the run's final response (re-reading its summary after appends, at most one read in
 * flight), until `maxConnectionDuration`, a shutdown or the client going away; then a `303` to
 * `url` when it has none yet.
 */
async function waitForResult(settings: AttachSettings, record: RunSummary, request: Request, url: string): Promise<Response> {
  const current = await waitForRunResult(settings, record, request.signal, settings.maxConnectionDuration);
  // The stored bytes as the handler sent them (as the wait endpoint's long-poll answers).
  if (current?.result !== undefined) return responseFromSnapshot(current.result, { decode: false });
  return new Response(null, { status: 303, headers: { location: url, [RUN_ID_HEADER]: record.runId } });
}
