import { setupServer, type SetupServer } from "msw/node";
import { afterAll, afterEach, beforeAll } from "vitest";

/**
 * An msw server for one test file. Clones of mocked responses (which msw makes for its own
 * listeners) are cancelled at once, so cancelling the client's copy reaches the handler's stream.
 *
 * @example
 * ```ts
 * const server = createTestServer();
 * beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
 * ```
 */
export function createTestServer(): SetupServer {
  const server = setupServer();
  server.events.on("response:mocked", ({ response }) => {
    void response.body?.cancel().catch(() => {});
  });
  return server;
}

/**
 * The msw server of one test file, listening for the whole file (unhandled requests fail the test)
 * and with the handlers a test added removed after it.
 *
 * @example
 * ```ts
 * const server = setupTestServer();
 * server.use(http.get(`${ORIGIN}/chat`, () => sseResponse(sse(metadata, result))));
 * ```
 */
export function setupTestServer(): SetupServer {
  const server = createTestServer();
  beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
  afterEach(() => server.resetHandlers());
  afterAll(() => server.close());
  return server;
}
