// What every framework test serves and runs: a durable chat endpoint (a POST JSON body, two steps
// with stream.push, the second failing once and retried, a third that waits for a gate), the
// gates opened by an ordinary JSON route of the framework, and a client that leaves the run after
// its first commit and reads the rest through the wait endpoint.
import { readFile } from "node:fs/promises";
import { cancelRun, fetchWithStream, resumeStream, type FetchWithStreamOptions } from "@durastream/client";
import { createDurable, step, stream } from "@durastream/server";

interface ChatBody {
  readonly topic: string;
  /** The third step waits until `POST /api/release` opens this gate. */
  readonly gate: string;
}

interface ChatResult {
  /** The path of `request.url` as the handler saw it. */
  readonly path: string;
  readonly title: string;
  readonly line: string;
  readonly after: string;
}

/** A durable instance with the chat endpoint, the wait endpoint, and the gates the handler waits on. */
export function createChat() {
  const gates = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  const gate = (name: string) => {
    let entry = gates.get(name);
    if (entry === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((settle) => {
        resolve = settle;
      });
      entry = { promise, resolve };
      gates.set(name, entry);
    }
    return entry;
  };
  // A small, fixed backoff: the retry is quick and deterministic.
  const durable = createDurable({ backoff: () => 5 });
  const endpoint = durable.endpoint(
    async (request) => {
      const body = (await request.json()) as ChatBody;
      const title = await step.run("title", () => {
        stream.push("On ");
        stream.push(body.topic);
        return `On ${body.topic}`;
      });
      const line = await step.run("line", ({ attempt }) => {
        stream.push(`(draft ${attempt}) `);
        if (attempt === 1) throw new Error("the model timed out"); // rolled back, then retried
        stream.push("every token once.");
        return "every token once.";
      });
      const after = await step.run("after-gate", async () => {
        await gate(body.gate).promise;
        stream.push(" (after the disconnect)");
        return "after the disconnect";
      });
      const result: ChatResult = { path: new URL(request.url).pathname, title, line, after };
      return Response.json(result, { status: 201, headers: { "x-chat": "yes" } });
    },
    { id: "chat" },
  );
  const wait = durable.waitEndpoint();
  return {
    endpoint,
    wait,
    /** Opens a gate; what the framework's own JSON route calls with the body it parsed. */
    release: (name: string) => gate(name).resolve(),
    close: () => durable.close(),
  };
}

/** What {@link runChatClient} saw. */
interface ChatReport {
  /** Committed before the client disconnected. */
  readonly beforeDisconnect: string;
  /** Committed in all, across both connections. */
  readonly committed: string;
  readonly rollbacks: string[];
  readonly resumeUrlPath: string;
  /** What the framework's JSON route answered. */
  readonly released: unknown;
  readonly status: number;
  readonly header: string | null;
  readonly body: ChatResult;
}

/** What {@link runChatClient} must report. */
export const expectedChatReport: ChatReport = {
  beforeDisconnect: "On frameworks",
  committed: "On frameworks(draft 2) every token once. (after the disconnect)",
  rollbacks: ["attempt 1: the model timed out"],
  resumeUrlPath: "/api/durable/<runId>",
  released: { released: true },
  status: 201,
  header: "yes",
  body: { path: "/api/chat", title: "On frameworks", line: "every token once.", after: "after the disconnect" },
};

/**
 * `fetchWithStream` to `POST /api/chat`, aborted once the first step is committed; then
 * `resumeStream` through the wait endpoint from the last offset, which opens the gate (through the
 * framework's JSON route `POST /api/release`) once it is tailing the run.
 */
export async function runChatClient(origin: string): Promise<ChatReport> {
  const pending = new Map<string | null, string>();
  const rollbacks: string[] = [];
  let committed = "";
  let offset: string | undefined;
  const callbacks: Pick<FetchWithStreamOptions, "onData" | "onCommit" | "onRollback"> = {
    onData: (frame) => {
      pending.set(frame.hashedStepId, (pending.get(frame.hashedStepId) ?? "") + String(frame.data));
      offset = frame.offset;
    },
    onCommit: (frame) => {
      committed += pending.get(frame.hashedStepId) ?? "";
      pending.delete(frame.hashedStepId);
      offset = frame.offset;
    },
    onRollback: (frame) => {
      rollbacks.push(`attempt ${frame.attempt}: ${frame.error.message}`);
      pending.delete(frame.hashedStepId);
      offset = frame.offset;
    },
  };

  const gate = `gate-${crypto.randomUUID()}`;
  const leave = new AbortController();
  let resumeUrl: string | null = null;
  let beforeDisconnect = "";
  const body: ChatBody = { topic: "frameworks", gate };
  const first = fetchWithStream(`${origin}/api/chat`, {
    fetchOpts: { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: leave.signal },
    reconnect: false,
    onMetadata: (metadata) => {
      resumeUrl = metadata.resumeUrl;
    },
    ...callbacks,
    onCommit: (frame) => {
      callbacks.onCommit!(frame);
      if (!leave.signal.aborted) {
        beforeDisconnect = committed;
        leave.abort();
      }
    },
  });
  const left = await first.then(
    () => false,
    () => true,
  );
  if (!left) throw new Error("the first connection should have been aborted");
  if (resumeUrl === null) throw new Error("no resumeUrl in the metadata frame");
  const url: string = resumeUrl;

  let released: Promise<unknown> | undefined;
  const end = await resumeStream(url, {
    ...(offset === undefined ? {} : { offset }),
    ...callbacks,
    onMetadata: () => {
      released ??= fetch(`${origin}/api/release`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ gate }),
      }).then((response) => response.json());
    },
  });
  if (released === undefined) throw new Error("the wait endpoint sent no metadata frame");
  return {
    beforeDisconnect,
    committed,
    rollbacks,
    resumeUrlPath: new URL(url).pathname.replace(/[^/]+$/, "<runId>"),
    released: await released,
    status: end.status,
    header: end.headers.get("x-chat"),
    body: (await end.json()) as ChatResult,
  };
}

/**
 * Starts a run whose gate is never opened, leaves it at its first commit and cancels it with
 * `cancelRun` (`DELETE <resumeUrl>` through the wait endpoint); then reads its end there.
 */
export async function cancelThroughWaitEndpoint(origin: string) {
  const leave = new AbortController();
  let resumeUrl: string | null = null;
  const body: ChatBody = { topic: "cancelled", gate: "never-opened" };
  await fetchWithStream(`${origin}/api/chat`, {
    fetchOpts: { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: leave.signal },
    reconnect: false,
    onMetadata: (metadata) => {
      resumeUrl = metadata.resumeUrl;
    },
    onCommit: () => leave.abort(),
  }).catch(() => undefined);
  if (resumeUrl === null) throw new Error("no resumeUrl in the metadata frame");
  const url: string = resumeUrl;
  const cancelled = await cancelRun(url);
  const again = await cancelRun(url); // the run is over: 404, false
  const end = await resumeStream(url);
  return { cancelled, again, status: end.status, body: await end.text() };
}

/** What {@link cancelThroughWaitEndpoint} must report. */
export const expectedCancelReport = { cancelled: true, again: false, status: 500, body: "The run was cancelled through its resume URL." };

/** POSTs a JSON chat body the way a client does, for the tests of a wrongly mounted endpoint. */
export function postChat(origin: string, path = "/api/chat"): Promise<Response> {
  const body: ChatBody = { topic: "parsers", gate: "never-opened" };
  return fetch(`${origin}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify(body),
  });
}

/**
 * The lines of the README's snippet for a framework (its ts block starting with `// <name>`) that
 * mount the endpoints: each test file must contain them as they are, so the docs run as tested.
 */
export async function readmeMountLines(name: string): Promise<string[]> {
  const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
  const start = readme.indexOf(`\`\`\`ts\n// ${name}\n`);
  if (start === -1) throw new Error(`README has no ts block starting with "// ${name}"`);
  const block = readme.slice(start, readme.indexOf("\n```", start + 1));
  return block
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => /\b(endpoint|wait|durableRoutes|serveChat|serveWait)\b|hijack/.test(line) && !line.startsWith("import "));
}
