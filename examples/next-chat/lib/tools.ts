import { type InferUITools, tool, type UIDataTypes, type UIMessage } from "ai";
import { z } from "zod";

const CONDITIONS = ["sunny", "partly cloudy", "overcast", "light rain", "windy", "foggy"] as const;

/** What the weather tool returns. */
export interface Weather {
  city: string;
  temperatureC: number;
  conditions: (typeof CONDITIONS)[number];
}

/**
 * A made-up forecast, the same for the same city (so the test knows what to expect). A real tool
 * would call a weather API here: `durableChat` runs it once per tool call, whatever fails later.
 */
export function weatherIn(city: string): Weather {
  let hash = 0;
  for (const character of city.toLowerCase()) hash = (hash * 31 + (character.codePointAt(0) ?? 0)) >>> 0;
  return { city, temperatureC: 4 + (hash % 24), conditions: CONDITIONS[hash % CONDITIONS.length]! };
}

/** How long the weather tool "calls an API", ms: long enough to see the tool part running. */
const TOOL_LATENCY_MS = 300;

/** The chat's tools: passed to `durableChat` on the server; their types give the client typed tool parts. */
export const tools = {
  weather: tool({
    description: "Get the current weather in a city.",
    inputSchema: z.object({ city: z.string().min(1).max(100).describe("The city, e.g. Paris") }),
    execute: async ({ city }, { abortSignal }): Promise<Weather> => {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, TOOL_LATENCY_MS);
        abortSignal?.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(abortSignal.reason);
        });
      });
      return weatherIn(city);
    },
  }),
};

/** The chat's messages: AI SDK `UIMessage`s whose tool parts are typed by {@link tools} (`tool-weather`). */
export type ChatMessage = UIMessage<unknown, UIDataTypes, InferUITools<typeof tools>>;
