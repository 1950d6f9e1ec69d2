import { InvalidOptionsError } from "@durastream/protocol";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;

/** A duration: milliseconds, or a string such as `"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"`, `"1w"`, or `"1h30m"`. */
export type Duration = number | string;

/**
 * Converts a duration to milliseconds. Throws an `InvalidOptionsError` naming `where`
 * for anything else.
 */
export function toMilliseconds(duration: Duration, where: string): number {
  if (typeof duration === "number") {
    if (Number.isFinite(duration) && duration >= 0) return duration;
  } else if (typeof duration === "string") {
    const parts = duration
      .trim()
      .toLowerCase()
      .match(/\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)/g);
    if (parts !== null && parts.join("").replace(/\s/g, "") === duration.trim().toLowerCase().replace(/\s/g, "")) {
      let total = 0;
      for (const part of parts) {
        const [, amount, unit] = PATTERN.exec(part.replace(/\s/g, "")) ?? [];
        total += Number(amount) * UNITS[unit!]!;
      }
      return total;
    }
  }
  throw new InvalidOptionsError(
    `${where}: ${JSON.stringify(duration)} is not a duration; pass milliseconds >= 0 or a string like "500ms", "30s", "5m", "2h", "1d" or "1h30m".`,
  );
}
