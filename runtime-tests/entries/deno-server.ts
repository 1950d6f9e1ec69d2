// Deno: the scenario on `Deno.serve`.
import { createScenarioApp } from "../scenario/app.js";

declare const Deno: {
  readonly version: { readonly deno: string };
  serve(options: { port: number; hostname: string; onListen: (address: { port: number }) => void }, handler: (request: Request) => Promise<Response>): unknown;
};

const app = createScenarioApp(`deno ${Deno.version.deno}`);
Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: ({ port }) => console.log(JSON.stringify({ port })) }, app.fetch);
