// Bun with a catch-all `Bun.serve({ fetch: endpoint })` and no wait endpoint: a client's resume
// request reaches the endpoint, which must answer with an error instead of starting another run.
import { createDurable, step } from "@durastream/server";

declare const Bun: {
  serve(options: { port: number; hostname: string; fetch: (request: Request) => Promise<Response> }): { readonly port: number };
};

let runs = 0;
const durable = createDurable();
const endpoint = durable.endpoint(
  async () => {
    runs += 1;
    return Response.json({ runs: await step.run("count", () => runs) });
  },
  { id: "catch-all" },
);
const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: endpoint });
console.log(JSON.stringify({ port: server.port }));
