// Bun: the scenario on `Bun.serve`.
import { createScenarioApp } from "../scenario/app.js";

declare const Bun: {
  readonly version: string;
  serve(options: { port: number; hostname: string; idleTimeout: number; fetch: (request: Request) => Promise<Response> }): { readonly port: number };
};

const app = createScenarioApp(`bun ${Bun.version}`);
// Bun closes a connection idle for `idleTimeout` seconds (default 10), less than the server's
// keep-alive interval (15 s): raise it (255 is the most) or lower `keepAliveInterval`.
const server = Bun.serve({ port: 0, hostname: "127.0.0.1", idleTimeout: 255, fetch: app.fetch });
console.log(JSON.stringify({ port: server.port }));
