const marker = "durastream.error";

/**
 * The base class of every error Durastream throws, in every package. `code` tells the kinds apart;
 * `cause` holds the underlying error, when there is one.
 *
 * Each subclass carries its own `Symbol.for("durastream.error.<Name>")` marker next to this one,
 * so `isInstance` is exact (a plain `DurableError` with code `STORE_REFUSED` is no
 * `StoreRefusedError`) and works across copies of a package, bundles and realms, where
 * `instanceof` does not. Markers are non-enumerable: a spread copy (`{ ...error }`) is no longer one.
 *
 * Errors that cross the wire (rollback and result frames) are described by `name` and `message`
 * only; `code` is never sent.
 *
 * @example
 * ```ts
 * try {
 *   await fetchWithStream("/api/chat", { onData });
 * } catch (error) {
 *   if (DurastreamError.isInstance(error)) console.warn(error.name, error.code, error.message);
 *   throw error;
 * }
 * ```
 */
export class DurastreamError<Code extends string = string> extends Error {
  // `declare`d fields (here and in the subclasses) are only assigned in the constructor, which gives
  // the same own properties in the same order as class fields would, in less code.
  /** Discriminates the kinds of error; each subclass documents its codes. */
  declare readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = "DurastreamError";
    DurastreamError.mark(this, marker);
  }

  /**
   * True for any error of Durastream (of any package and subclass), from any copy of it.
   *
   * @example
   * ```ts
   * if (DurastreamError.isInstance(error)) console.warn(error.code);
   * ```
   */
  static isInstance(value: unknown): value is DurastreamError {
    return DurastreamError.hasMarker(value, marker);
  }

  /**
   * Whether `value` carries the `Symbol.for(marker)` marker; for subclasses' `isInstance`. Never
   * throws (a revoked Proxy, or one whose traps throw, is no error of ours).
   *
   * @example
   * ```ts
   * DurastreamError.hasMarker(new InvalidOptionsError("x"), "durastream.error.InvalidOptionsError"); // true
   * ```
   */
  protected static hasMarker(value: unknown, marker: string): boolean {
    if (typeof value !== "object" || value === null) return false;
    try {
      return (value as Record<symbol, unknown>)[Symbol.for(marker)] === true;
    } catch {
      return false;
    }
  }

  /**
   * Puts the non-enumerable `Symbol.for(marker)` marker on an error; each subclass calls it in its
   * constructor with its own `durastream.error.<Name>` marker.
   *
   * @example
   * ```ts
   * DurastreamError.mark(this, "durastream.error.StoreRefusedError");
   * ```
   */
  protected static mark(error: DurastreamError, marker: string): void {
    Object.defineProperty(error, Symbol.for(marker), { value: true });
  }
}

const invalidOptionsMarker = "durastream.error.InvalidOptionsError";

/**
 * What every Durastream package throws for a bad option or argument (the one validation policy:
 * never a `TypeError` or `RangeError`). Its `code` is always `INVALID_OPTIONS`; its message says
 * what was wrong and what to pass instead.
 *
 * @example
 * ```ts
 * try {
 *   createDurable({ basePath: "api" });
 * } catch (error) {
 *   if (InvalidOptionsError.isInstance(error)) console.error(error.message); // says what to pass
 * }
 * ```
 */
export class InvalidOptionsError extends DurastreamError<"INVALID_OPTIONS"> {
  constructor(message: string, options?: { cause?: unknown }) {
    super("INVALID_OPTIONS", message, options);
    this.name = "InvalidOptionsError";
    DurastreamError.mark(this, invalidOptionsMarker);
  }

  /**
   * True for an `InvalidOptionsError` from any copy of any Durastream package.
   *
   * @example
   * ```ts
   * InvalidOptionsError.isInstance(new InvalidOptionsError("bad")); // true
   * ```
   */
  static override isInstance(value: unknown): value is InvalidOptionsError {
    return DurastreamError.hasMarker(value, invalidOptionsMarker);
  }
}

const protocolMarker = "durastream.error.ProtocolError";

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
 * The error of the wire protocol (a `DurastreamError`); `code` tells the kinds apart.
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
export class ProtocolError extends DurastreamError<ProtocolErrorCode> {
  /** The raw SSE event or text that failed, when there is one. */
  declare readonly raw: string | undefined;

  constructor(code: ProtocolErrorCode, message: string, options: { cause?: unknown; raw?: string } = {}) {
    super(code, message, options);
    this.name = "ProtocolError";
    this.raw = options.raw;
    DurastreamError.mark(this, protocolMarker);
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
  static override isInstance(value: unknown): value is ProtocolError {
    return DurastreamError.hasMarker(value, protocolMarker);
  }
}
