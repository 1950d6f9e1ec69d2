import type { DurableStreamStorage } from "@durastream/client";

/** A `DurableStreamStorage` in memory that records every write. */
export interface MemoryStorage extends DurableStreamStorage {
  /** The stored values. */
  readonly items: Map<string, string>;
  /** Every `setItem` call, in order, with the value parsed as JSON. */
  readonly saves: { readonly key: string; readonly value: unknown }[];
  /** Every `removeItem` call's key, in order. */
  readonly removals: string[];
}

/**
 * Creates a `MemoryStorage`, optionally with initial values (stringified as JSON).
 *
 * @example
 * ```ts
 * const storage = memoryStorage({ chat: { runId, resumeUrl, offset: "1-3", committed: ["Hi"] } });
 * createDurableStream({ url, persistKey: "chat", storage });
 * ```
 */
export function memoryStorage(initial: Record<string, unknown> = {}): MemoryStorage {
  const items = new Map(Object.entries(initial).map(([key, value]) => [key, JSON.stringify(value)] as const));
  const saves: { key: string; value: unknown }[] = [];
  const removals: string[] = [];
  return {
    items,
    saves,
    removals,
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => {
      saves.push({ key, value: JSON.parse(value) as unknown });
      items.set(key, value);
    },
    removeItem: (key) => {
      removals.push(key);
      items.delete(key);
    },
  };
}
