import type { DurableEvent } from "./run-store.js";

/**
 * Whether `event` satisfies a wait's `match`: every dot-path (e.g. `"data.orderId"`) read from the
 * event `{ name, data }` equals the expected value (deep equality of JSON values). An absent or
 * empty `match` accepts every event of the name. Stores use it in `deliverEvent`.
 *
 * @example
 * ```ts
 * eventMatches({ "data.orderId": "o1" }, { name: "order/paid", data: { orderId: "o1" } }); // true
 * ```
 */
export function eventMatches(match: Readonly<Record<string, unknown>> | undefined, event: DurableEvent): boolean {
  if (match === undefined) return true;
  for (const [path, expected] of Object.entries(match)) {
    let value: unknown = event;
    for (const key of path.split(".")) {
      if (typeof value !== "object" || value === null || !Object.hasOwn(value, key)) {
        value = undefined;
        break;
      }
      value = (value as Record<string, unknown>)[key];
    }
    if (!jsonEqual(value, expected)) return false;
  }
  return true;
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  return keysA.every((key) => Object.hasOwn(b, key) && jsonEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
}
