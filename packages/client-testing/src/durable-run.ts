import type { MetadataFrame } from "@durastream/protocol";
import { metadataFrame } from "./frames.js";
import { ORIGIN } from "./origin.js";

/** A run served at its wait endpoint, and the metadata frame that names it as the resume URL. */
export interface DurableRun {
  /** Path of the run's wait endpoint, `/api/durable/:runId`. */
  readonly waitPath: string;
  /** The resume URL the metadata names, resolved against `ORIGIN`. */
  readonly resumeUrl: string;
  /** Metadata whose resume URL is the (relative) wait path with the token `t0k`. */
  readonly metadata: MetadataFrame;
}

/**
 * The wait endpoint and metadata frame of run `runId`.
 *
 * @example
 * ```ts
 * const { waitPath: WAIT_PATH, resumeUrl: RESUME_URL, metadata } = durableRun(RUN_ID);
 * server.use(http.get(`${ORIGIN}${WAIT_PATH}`, () => sseResponse(sse(metadata, result))));
 * ```
 */
export function durableRun(runId: string): DurableRun {
  const waitPath = `/api/durable/${runId}`;
  return { waitPath, resumeUrl: `${ORIGIN}${waitPath}?token=t0k`, metadata: metadataFrame(runId, `${waitPath}?token=t0k`) };
}
