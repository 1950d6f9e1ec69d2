import { durable } from "@/lib/durable";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

/**
 * The wait endpoint, where resume URLs point (`/api/durable/<runId>?token=…`):
 * - GET streams a run's frame log from the client's `Last-Event-ID` and tails it until the result.
 *   The durable transport follows redirects here (a retry backoff) and resumes here after a reload;
 *   `uiMessageStreamHandler` calls it in-process for the stock transport.
 * - DELETE cancels the run: the Stop button's `cancelRun(resumeUrl)`.
 *
 * It must share the chat endpoint's store and secret (see `lib/durable.ts`).
 */
export const GET = durable.waitEndpoint();
export const DELETE = GET;
