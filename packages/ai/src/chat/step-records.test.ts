import type { UIMessageChunk } from "ai";
import { describe, expect, it } from "vitest";
import { compactChunks, jsonSafe } from "./step-records.js";

describe("step records", () => {
  it("merges consecutive deltas of one part and keeps everything else in order", () => {
    const chunks: UIMessageChunk[] = [
      { type: "start-step" },
      { type: "text-start", id: "a" },
      { type: "text-delta", id: "a", delta: "Hel" },
      { type: "text-delta", id: "a", delta: "lo" },
      { type: "reasoning-start", id: "r" },
      { type: "reasoning-delta", id: "r", delta: "hm" },
      { type: "reasoning-delta", id: "r", delta: "m" },
      { type: "text-delta", id: "a", delta: "!" },
      { type: "tool-input-start", toolCallId: "c", toolName: "t" },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: '{"a"' },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: ":1}" },
      { type: "text-end", id: "a" },
    ];
    expect(compactChunks(chunks)).toEqual([
      { type: "start-step" },
      { type: "text-start", id: "a" },
      { type: "text-delta", id: "a", delta: "Hello" },
      { type: "reasoning-start", id: "r" },
      { type: "reasoning-delta", id: "r", delta: "hmm" },
      { type: "text-delta", id: "a", delta: "!" },
      { type: "tool-input-start", toolCallId: "c", toolName: "t" },
      { type: "tool-input-delta", toolCallId: "c", inputTextDelta: '{"a":1}' },
      { type: "text-end", id: "a" },
    ]);
  });

  it("does not merge deltas of different parts", () => {
    const chunks: UIMessageChunk[] = [
      { type: "text-delta", id: "a", delta: "x" },
      { type: "text-delta", id: "b", delta: "y" },
    ];
    expect(compactChunks(chunks)).toEqual(chunks);
  });

  it("round-trips through JSON like a stored step output", () => {
    expect(jsonSafe({ at: new Date(0), gone: undefined, list: [1, undefined] })).toEqual({ at: "1970-01-01T00:00:00.000Z", list: [1, null] });
    expect(jsonSafe(undefined)).toBeNull();
  });
});
