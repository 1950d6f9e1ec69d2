/**
 * One string for a run key of an endpoint, as stores index keys: `<length of endpointId>:<endpointId>:<key>`.
 * The length prefix keeps endpoints apart whatever characters their ids and keys hold (endpoint
 * `"a:b"` with key `"c"` and endpoint `"a"` with key `"b:c"` differ).
 *
 * @example
 * ```ts
 * runKeyIndex("chat", "c-42"); // "4:chat:c-42"
 * ```
 */
export function runKeyIndex(endpointId: string, key: string): string {
  return `${endpointId.length}:${endpointId}:${key}`;
}
