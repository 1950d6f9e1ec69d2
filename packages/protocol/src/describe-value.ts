/**
 * A short description of any value, for error messages about bad options ("…; got 42.", "…; got
 * an object (Map)."): strings quoted as JSON, functions and objects named by kind rather than
 * printed, everything else as `String()` gives it. Never throws (a Proxy, a throwing getter, an
 * object without a prototype all get a description).
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "function":
      return "a function";
    case "symbol":
      return value.toString();
    case "bigint":
      return `${value}n`;
    case "object":
      if (value === null) return "null";
      return describeObject(value);
    default:
      return String(value);
  }
}

function describeObject(value: object): string {
  try {
    if (Array.isArray(value)) return `an array (length ${value.length})`;
    const name: unknown = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return `an object (${typeof name === "string" && name !== "" ? name : Object.prototype.toString.call(value)})`;
  } catch {
    // A revoked Proxy, or a getter that throws.
    return "an object";
  }
}
