const brand = Symbol.for("durastream.protocol.error");

/**
 * What went wrong while encoding or decoding the wire protocol. `BODY_TOO_LARGE`: a response body
 * went past `snapshotResponse`'s `maxBodyBytes` (it was not read further).
 */
export type ProtocolErrorCode =
  | "MALFORMED_FRAME"
  | "UNKNOWN_EVENT"
  | "UNKNOWN_FIELD"
  | "INVALID_OFFSET"
  | "UNSUPPORTED_VERSION"
  | "INVALID_FRAME"
  | "BODY_TOO_LARGE";

/**
 * The one error class of `@durastream/protocol`. `code` tells the kinds apart.
 *
 * @example
 * ```ts
 * try {
 *   parseOffset("nope");
 * } catch (error) {
 *   if (ProtocolError.isInstance(error) && error.code === "INVALID_OFFSET") {
 *     // ask the user for a fresh resume URL
 *   }
 * }
 * ```
 */
export class ProtocolError extends Error {
  /** Discriminates the kinds of protocol error. */
  readonly code: ProtocolErrorCode;
  /** The raw SSE event or text that failed, when there is one. */
  readonly raw: string | undefined;

  constructor(code: ProtocolErrorCode, message: string, options: { cause?: unknown; raw?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ProtocolError";
    this.code = code;
    this.raw = options.raw;
    Object.defineProperty(this, brand, { value: true });
  }

  /**
   * True for a `ProtocolError` from any copy of this package (works across bundles and realms,
   * where `instanceof` does not).
   *
   * @example
   * ```ts
   * if (ProtocolError.isInstance(error)) console.warn(error.code);
   * ```
   */
  static isInstance(value: unknown): value is ProtocolError {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }
}
