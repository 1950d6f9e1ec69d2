import type { LanguageModelUsage } from "ai";
import { addLanguageModelUsage, createNullLanguageModelUsage } from "ai/internal";

/** Adds two usages as `streamText` does for its total (`addLanguageModelUsage`); `undefined` counts as none. Internal. */
export function addUsage(total: LanguageModelUsage | undefined, usage: LanguageModelUsage | undefined): LanguageModelUsage {
  return addLanguageModelUsage(total ?? createNullLanguageModelUsage(), usage ?? createNullLanguageModelUsage());
}

/** The sum of `usages`; the AI SDK's "null" usage (every count undefined) for none. Internal. */
export function sumUsage(usages: ReadonlyArray<LanguageModelUsage | undefined>): LanguageModelUsage {
  return usages.reduce<LanguageModelUsage>((total, usage) => addUsage(total, usage), createNullLanguageModelUsage());
}
