import { durable } from "@/lib/durable";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

/**
 * The wait endpoint: `GET /api/durable/<runId>?token=…` streams a run's frame log from the
 * client's `Last-Event-ID` and tails it until the result. The client follows redirects here when a
 * run moves to the background, and `useDurableStream` comes here to resume a run after a reload.
 * It must share the chat endpoint's `durable` instance (see `lib/durable.ts`).
 */
export const GET = durable.waitEndpoint();
