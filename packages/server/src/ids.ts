import { InvalidOptionsError } from "@durastream/protocol";

/** A lone surrogate: a high one not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Whether `text` is well-formed UTF-16 (no lone surrogates), i.e. whether its UTF-8 encoding is
 * lossless. `String.prototype.isWellFormed` where the runtime has it (Node 20+), else a regex.
 */
export function isWellFormed(text: string): boolean {
  const native = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;
  return native === undefined ? !LONE_SURROGATE.test(text) : native.call(text);
}

/**
 * Throws `INVALID_OPTIONS` for an id that is not well-formed UTF-16. Ids are hashed (step ids) or
 * stored (endpoint ids) as UTF-8, which turns every lone surrogate into U+FFFD: `"user-\uD800"`
 * and `"user-\uFFFD"` would become the same id and share a journal entry or an endpoint.
 */
export function assertWellFormedId(id: string, where: string): void {
  if (isWellFormed(id)) return;
  const at = id.search(LONE_SURROGATE);
  throw new InvalidOptionsError(
    `${where}: the id ${JSON.stringify(id)} is not well-formed UTF-16 (a lone surrogate at index ${at}); stored as UTF-8 it would equal other ids (every lone surrogate becomes U+FFFD). Build ids from whole characters only: check text you put in an id with String.prototype.isWellFormed(), or use a stable key such as a database id instead.`,
  );
}
