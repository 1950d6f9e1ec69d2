// The client side of the scenario, run in every runtime: `fetchWithStream` through a whole run
// (with a rolled-back attempt), then a run the client leaves while it is still going and reads to
// the end with `resumeStream` through the wait endpoint.
import { fetchWithStream, resumeStream, type FetchWithStreamOptions } from "@durastream/client";
import type { ScenarioBody, ScenarioResult } from "./app.js";

type FetchFunction = NonNullable<FetchWithStreamOptions["fetch"]>;

/** What a client saw: compared by the tests against {@link expectedReport}. */
export interface ClientReport {
  readonly full: {
    readonly committed: string;
    readonly rollbacks: string[];
    readonly status: number;
    readonly header: string | null;
    readonly body: ScenarioResult;
  };
  readonly resumed: {
    /** Committed before the client disconnected. */
    readonly beforeDisconnect: string;
    /** Committed in all, across both connections. */
    readonly committed: string;
    readonly resumeUrlPath: string;
    readonly status: number;
    readonly body: ScenarioResult;
  };
}

/** Committed text from the frames of a run: chunks of a step count once its commit frame came. */
class CommittedText {
  committed = "";
  rollbacks: string[] = [];
  offset: string | undefined;
  readonly #pending = new Map<string | null, string>();

  readonly callbacks: Pick<FetchWithStreamOptions, "onData" | "onCommit" | "onRollback"> = {
    onData: ({ data, hashedStepId, offset }) => {
      this.#pending.set(hashedStepId, (this.#pending.get(hashedStepId) ?? "") + String(data));
      this.offset = offset;
    },
    onCommit: ({ hashedStepId, offset }) => {
      this.committed += this.#pending.get(hashedStepId) ?? "";
      this.#pending.delete(hashedStepId);
      this.offset = offset;
    },
    onRollback: ({ attempt, error, offset, hashedStepId }) => {
      this.rollbacks.push(`attempt ${attempt}: ${error.message}`);
      this.#pending.delete(hashedStepId);
      this.offset = offset;
    },
  };
}

const post = (body: ScenarioBody): RequestInit => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** Runs the client scenario against `base` (the origin serving `createScenarioApp`). */
export async function runClientScenario(base: string, fetch: FetchFunction = globalThis.fetch): Promise<ClientReport> {
  // 1. A whole run on one connection.
  const text = new CommittedText();
  const response = await fetchWithStream(`${base}/poem`, { fetch, fetchOpts: post({ topic: "durability" }), ...text.callbacks });
  const full = {
    committed: text.committed,
    rollbacks: text.rollbacks,
    status: response.status,
    header: response.headers.get("x-poem"),
    body: (await response.json()) as ScenarioResult,
  };

  // 2. Leave a run once its first step is committed (its third step waits for a gate), then open
  //    the gate and read the rest through the wait endpoint.
  const gate = `gate-${Math.random().toString(36).slice(2)}`;
  const resumed = new CommittedText();
  const leave = new AbortController();
  let resumeUrl: string | null = null;
  let beforeDisconnect = "";
  const first = fetchWithStream(`${base}/poem`, {
    fetch,
    fetchOpts: { ...post({ topic: "resumes", gate }), signal: leave.signal },
    reconnect: false,
    onMetadata: (metadata) => {
      resumeUrl = metadata.resumeUrl;
    },
    ...resumed.callbacks,
    onCommit: (commit) => {
      resumed.callbacks.onCommit!(commit);
      if (!leave.signal.aborted) {
        beforeDisconnect = resumed.committed;
        leave.abort();
      }
    },
  });
  await first.then(
    () => {
      throw new Error("the first connection should have been aborted");
    },
    () => undefined,
  );
  if (resumeUrl === null) throw new Error("no resumeUrl in the metadata frame");
  const url: string = resumeUrl;
  let released: Promise<Response> | undefined;
  const end = await resumeStream(url, {
    fetch,
    ...(resumed.offset === undefined ? {} : { offset: resumed.offset }),
    ...resumed.callbacks,
    // Open the gate once the wait endpoint is tailing the run: the rest arrives live.
    onMetadata: () => {
      released ??= fetch(`${base}/release/${gate}`, { method: "POST" });
    },
  });
  if (released === undefined) throw new Error("the wait endpoint sent no metadata frame");
  if ((await released).status !== 204) throw new Error("could not open the gate");
  return {
    full,
    resumed: {
      beforeDisconnect,
      committed: resumed.committed,
      resumeUrlPath: new URL(url).pathname.replace(/[^/]+$/, "<runId>"),
      status: end.status,
      body: (await end.json()) as ScenarioResult,
    },
  };
}

/** What every runtime's client must report for a server in `runtime`. */
export function expectedReport(runtime: string): ClientReport {
  return {
    full: {
      committed: "On durability(draft 2) every token once.",
      rollbacks: ["attempt 1: the model timed out"],
      status: 201,
      header: "yes",
      body: { title: "On durability", line: "every token once.", after: null, runtime },
    },
    resumed: {
      beforeDisconnect: "On resumes",
      committed: "On resumes(draft 2) every token once. (after the disconnect)",
      resumeUrlPath: "/api/durable/<runId>",
      status: 201,
      body: { title: "On resumes", line: "every token once.", after: "after the disconnect", runtime },
    },
  };
}
