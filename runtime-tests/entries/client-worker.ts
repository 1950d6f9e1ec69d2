// Cloudflare Workers (workerd): the client scenario in a worker, reaching the scenario worker
// through a service binding. `GET /?origin=<origin>` answers with the report as JSON.
import { runClientScenario } from "../scenario/client.js";

interface Env {
  readonly SERVER: { fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> };
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const origin = new URL(request.url).searchParams.get("origin") ?? "http://scenario.test";
    const report = await runClientScenario(origin, (input, init) => env.SERVER.fetch(input, init));
    return Response.json(report);
  },
};
