import { DurastreamError } from "@durastream/protocol";

const marker = "durastream.error.DurableClientError";

/**
 * What went wrong while reading a Durastream stream:
 *
 * - `STREAM_ENDED`: the connection closed before the run's result frame arrived (and reconnecting
 *   did not help, or was not possible).
 * - `NETWORK`: `fetch` failed or reading the response body failed (and reconnecting did not help,
 *   or was not possible).
 * - `PROTOCOL`: the server sent something that is not a valid Durastream stream (a malformed or
 *   invalid frame, an invalid offset, or a protocol version this client does not speak). The
 *   `cause` is the `ProtocolError` from `@durastream/protocol`.
 * - `HTTP`: a redirect target or the run's resume URL (the wait endpoint) answered with a non-2xx
 *   status or without `text/event-stream`. A `404` there means the run is unknown or its resume
 *   token is wrong or expired.
 * - `TOO_MANY_REDIRECTS`: the server redirected more often than `maxRedirects` allows.
 *
 * @example
 * ```ts
 * function describe(code: DurableClientErrorCode): string {
 *   return code === "NETWORK" ? "You seem to be offline." : "The stream failed.";
 * }
 * ```
 */
export type DurableClientErrorCode = "STREAM_ENDED" | "NETWORK" | "PROTOCOL" | "HTTP" | "TOO_MANY_REDIRECTS";

/**
 * Options of a `DurableClientError`.
 *
 * @example
 * ```ts
 * const options: DurableClientErrorOptions = { status: 404, url: "https://app.example/api/durable/01J" };
 * new DurableClientError("HTTP", "Mount the wait endpoint at that URL.", options);
 * ```
 */
export interface DurableClientErrorOptions {
  /** The underlying error (a network `TypeError`, a `ProtocolError`, …). */
  cause?: unknown;
  /** The HTTP status of the response, for `HTTP` errors. */
  status?: number;
  /** The URL of the connection that failed. */
  url?: string;
  /** The offset of the last log frame delivered before the failure. */
  offset?: string;
  /** Where the run's stream can be read again, when the server offered a resume URL. */
  resumeUrl?: string;
}

/**
 * The error of a stream that failed in `@durastream/client` (a `DurastreamError`). `code` tells the
 * kinds apart; `cause` holds the underlying error. User aborts and errors thrown by your own
 * callbacks are never wrapped in it; bad options throw an `InvalidOptionsError` instead.
 *
 * `resumeUrl` and `offset` say where the stream stopped: persist them, and pass them to
 * `resumeStream` later (e.g. once the network is back) to go on without losing or repeating a frame.
 *
 * @example
 * ```ts
 * try {
 *   await fetchWithStream("/api/chat", { onData: ({ data }) => render(data) });
 * } catch (error) {
 *   if (!DurableClientError.isInstance(error)) throw error;
 *   const { resumeUrl, offset } = error;
 *   if (error.code === "NETWORK" && resumeUrl !== undefined) {
 *     whenOnline(() => resumeStream(resumeUrl, { offset, onData: ({ data }) => render(data) }));
 *   }
 * }
 * ```
 */
export class DurableClientError extends DurastreamError<DurableClientErrorCode> {
  /** The HTTP status of the response, for `HTTP` errors; otherwise `undefined`. */
  declare readonly status: number | undefined;
  /** The URL of the connection that failed, when known. */
  declare readonly url: string | undefined;
  /**
   * The offset of the last log frame delivered to your callbacks before the failure; `undefined`
   * when none was. Pass it to `resumeStream` as `offset`.
   */
  declare readonly offset: string | undefined;
  /**
   * The run's latest resume URL when the failure happened; `undefined` when the server offered
   * none (or the stream failed before its metadata arrived).
   */
  declare readonly resumeUrl: string | undefined;

  /**
   * @example
   * ```ts
   * new DurableClientError("STREAM_ENDED", "The stream ended before its result. Retry the request.");
   * ```
   */
  constructor(code: DurableClientErrorCode, message: string, options: DurableClientErrorOptions = {}) {
    super(code, message, options);
    this.name = "DurableClientError";
    this.status = options.status;
    this.url = options.url;
    this.offset = options.offset;
    this.resumeUrl = options.resumeUrl;
    DurastreamError.mark(this, marker);
  }

  /**
   * True for a `DurableClientError` from any copy of this package (works across bundles and
   * realms, where `instanceof` does not).
   *
   * @example
   * ```ts
   * if (DurableClientError.isInstance(error)) console.warn(error.code, error.message);
   * ```
   */
  static override isInstance(value: unknown): value is DurableClientError {
    return DurastreamError.hasMarker(value, marker);
  }
}
