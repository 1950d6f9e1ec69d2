// The server side of the scenario every runtime serves: a durable endpoint with two steps (one
// pipes, one pushes and fails once), a POST body, an optional gated third step (so a client can
// disconnect while the run is still going), the wait endpoint, and a route that opens the gate.
import { createDurable, step, stream, type DurableOptions } from "@durastream/server";

export interface ScenarioApp {
  readonly fetch: (request: Request) => Promise<Response>;
  readonly close: () => Promise<void>;
}

export interface ScenarioBody {
  readonly topic: string;
  /** When set, a third step waits until `POST /release/<gate>`. */
  readonly gate?: string;
}

/** What the endpoint answers with (status 201, header `x-poem: yes`). */
export interface ScenarioResult {
  readonly title: string;
  readonly line: string;
  readonly after: string | null;
  readonly runtime: string;
}

export function createScenarioApp(runtime: string, options: Pick<DurableOptions, "waitUntil" | "secret"> = {}): ScenarioApp {
  // A small, fixed backoff: the retry of the failing step is quick and deterministic.
  const durable = createDurable({ ...options, backoff: () => 5 });
  const gates = new Map<string, { opened: Promise<void>; open: () => void }>();
  const gate = (name: string) => {
    let entry = gates.get(name);
    if (entry === undefined) {
      let open!: () => void;
      const opened = new Promise<void>((resolve) => {
        open = resolve;
      });
      entry = { opened, open };
      gates.set(name, entry);
    }
    return entry;
  };

  const endpoint = durable.endpoint(
    async (request) => {
      const body = (await request.json()) as ScenarioBody;
      const title = await step.run("title", () =>
        stream.pipe(async function* () {
          yield "On ";
          yield body.topic;
        }),
      );
      const line = await step.run("line", ({ attempt }) => {
        stream.push(`(draft ${attempt}) `);
        if (attempt === 1) throw new Error("the model timed out"); // rolled back, then retried
        stream.push("every token once.");
        return "every token once.";
      });
      let after: string | null = null;
      if (body.gate !== undefined) {
        const name = body.gate;
        after = await step.run("after-gate", async () => {
          await gate(name).opened;
          stream.push(" (after the disconnect)");
          return "after the disconnect";
        });
      }
      const result: ScenarioResult = { title, line, after, runtime };
      return Response.json(result, { status: 201, headers: { "x-poem": "yes" } });
    },
    { id: "poem" },
  );
  const wait = durable.waitEndpoint();

  return {
    async fetch(request) {
      const { pathname } = new URL(request.url);
      if (pathname === "/poem" && request.method === "POST") return endpoint(request);
      if (pathname.startsWith("/api/durable/")) return wait(request);
      if (pathname.startsWith("/release/") && request.method === "POST") {
        gate(decodeURIComponent(pathname.slice("/release/".length))).open();
        return new Response(null, { status: 204 });
      }
      return new Response("not found", { status: 404 });
    },
    close: () => durable.close(),
  };
}
