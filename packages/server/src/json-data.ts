import { DurableError, type DurableErrorCode } from "./errors.js";

class NotJson extends Error {}

function strictReplacer(this: unknown, _key: string, value: unknown): unknown {
  switch (typeof value) {
    case "function":
    case "symbol":
    case "bigint":
      throw new NotJson();
    case "number":
      if (!Number.isFinite(value)) throw new NotJson();
      return value;
    case "object":
      if (value instanceof Map || value instanceof Set || ArrayBuffer.isView(value)) throw new NotJson();
      return value;
    default:
      return value;
  }
}

/**
 * Serializes a value that must survive a JSON round trip unchanged (a streamed chunk, a step's
 * output). Strings take a fast path. Functions, symbols, BigInts, cycles, non-finite numbers,
 * Maps, Sets and typed arrays are refused with a `DurableError` naming where the problem is,
 * instead of being silently dropped or mangled as `JSON.stringify` would.
 */
export function toJson(value: unknown, what: string, code: DurableErrorCode): string {
  if (typeof value === "string") return JSON.stringify(value);
  let json: string | undefined;
  try {
    json = JSON.stringify(value, strictReplacer);
  } catch (cause) {
    throw new DurableError(
      code,
      `${what} must be JSON-serializable: ${findProblem(value, "$", new Set())}. Convert it to plain JSON (strings, numbers, booleans, null, arrays, plain objects) first.`,
      { cause },
    );
  }
  if (json === undefined) {
    throw new DurableError(
      code,
      `${what} must be JSON-serializable, got ${value === undefined ? "undefined" : typeof value}. Pass a string, number, boolean, null, array or plain object.`,
    );
  }
  return json;
}

/** Walks a value to say where it stops being JSON (only on the error path). */
function findProblem(value: unknown, path: string, seen: Set<object>): string {
  const found = problemAt(value, path, seen);
  return found ?? `${path} cannot be serialized`;
}

function problemAt(value: unknown, path: string, seen: Set<object>): string | undefined {
  if (typeof value === "function") return `${path} is a function`;
  if (typeof value === "symbol") return `${path} is a symbol`;
  if (typeof value === "bigint") return `${path} is a BigInt (send it as a string)`;
  if (typeof value === "number" && !Number.isFinite(value)) return `${path} is ${String(value)}`;
  if (typeof value !== "object" || value === null) return undefined;
  if (value instanceof Map) return `${path} is a Map (send Object.fromEntries(map))`;
  if (value instanceof Set) return `${path} is a Set (send [...set])`;
  if (ArrayBuffer.isView(value)) return `${path} is a typed array (send it as base64 or a number array)`;
  if (seen.has(value)) return `${path} is a circular reference`;
  seen.add(value);
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") {
    try {
      return problemAt((toJSON as () => unknown).call(value), path, seen);
    } catch (error) {
      return `${path}.toJSON() threw ${String(error)}`;
    }
  }
  const entries = Array.isArray(value)
    ? value.map((item, index) => [`${path}[${index}]`, item] as const)
    : Object.entries(value).map(([key, item]) => [`${path}.${key}`, item] as const);
  for (const [childPath, child] of entries) {
    const problem = problemAt(child, childPath, seen);
    if (problem !== undefined) return problem;
  }
  seen.delete(value);
  return undefined;
}
