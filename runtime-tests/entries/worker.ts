// Cloudflare Workers (workerd): the scenario as a module worker. `createDurable()` runs at module
// scope with the secret from `env`, `waitUntil` from `cloudflare:workers` keeps a run going after its client disconnects, and
// the `nodejs_compat` flag provides AsyncLocalStorage.
import { env, waitUntil } from "cloudflare:workers";
import { createScenarioApp } from "../scenario/app.js";

// The secret is a binding (`wrangler secret put DURASTREAM_SECRET`), read at module scope.
const app = createScenarioApp("workerd", { waitUntil, secret: (env as { DURASTREAM_SECRET: string }).DURASTREAM_SECRET });

/** Made on the first request (not at module scope, where workerd forbids random values). */
let isolate: string | undefined;

export default {
  fetch(request: Request): Promise<Response> {
    isolate ??= crypto.randomUUID();
    // Which isolate served: the tests check that all their runs share one.
    if (new URL(request.url).pathname === "/isolate") return Promise.resolve(new Response(isolate));
    return app.fetch(request);
  },
};
