/** Handlers that record what a mocked server saw of each request. */
import { http } from "msw";
import type { SetupServer } from "msw/node";

/** What a mocked server saw of one request. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly accept: string | null;
  readonly lastEventId: string | null;
  readonly custom: string | null;
}

/**
 * The parts of a request the tests check (`custom` is the `x-custom` header).
 *
 * @example
 * ```ts
 * http.get(url, ({ request }) => { seen.push(see(request)); return sseResponse(text); });
 * ```
 */
export function see(request: Request): SeenRequest {
  return {
    method: request.method,
    url: request.url,
    accept: request.headers.get("accept"),
    lastEventId: request.headers.get("last-event-id"),
    custom: request.headers.get("x-custom"),
  };
}

/**
 * An msw resolver that answers the n-th request with the n-th responder and records every request;
 * a request beyond the last responder fails the test.
 *
 * @example
 * ```ts
 * const wait = inSequence(() => HttpResponse.error(), () => sseResponse(sse(metadata, result)));
 * server.use(http.get(WAIT_URL, wait.resolver));
 * expect(wait.seen).toHaveLength(2);
 * ```
 */
export function inSequence(...responders: ((request: Request) => Response)[]): {
  readonly seen: SeenRequest[];
  readonly resolver: (info: { request: Request }) => Response;
} {
  const seen: SeenRequest[] = [];
  return {
    seen,
    resolver: ({ request }) => {
      seen.push(see(request));
      const responder = responders[seen.length - 1];
      if (responder === undefined) throw new Error(`Unexpected request #${seen.length} to ${request.method} ${request.url}`);
      return responder(request);
    },
  };
}

/**
 * Serves POSTs to `url` with `respond()` and records each request.
 *
 * @example
 * ```ts
 * const endpoint = servePosts(server, ENDPOINT, () => sseResponse(sse(metadata, data("1-1", "a"))));
 * expect(endpoint.posts).toHaveLength(1);
 * ```
 */
export function servePosts(server: SetupServer, url: string, respond: () => Response): { readonly posts: SeenRequest[] } {
  const posts: SeenRequest[] = [];
  server.use(
    http.post(url, ({ request }) => {
      posts.push(see(request));
      return respond();
    }),
  );
  return { posts };
}
