// The frame → UI message chunk mapping of uiMessageStreamHandler, frame by frame.
import type { UIMessageChunk } from "ai";
import { describe, expect, it } from "vitest";
import { UIChunkProjection } from "./ui-chunk-projection.js";

function projection() {
  const out: UIMessageChunk[] = [];
  return { out, projection: new UIChunkProjection((chunk) => out.push(chunk)) };
}

const text = (delta: string): UIMessageChunk => ({ type: "text-delta", id: "t", delta });

describe("UIChunkProjection", () => {
  it("forwards chunks as they arrive and makes commits invisible", () => {
    const { out, projection: p } = projection();
    p.data("message", { type: "start", messageId: "m" });
    p.commit("message");
    p.data("llm", { type: "start-step" });
    p.data("llm", { type: "text-start", id: "t" });
    p.data("llm", text("Hi"));
    p.commit("llm");
    expect(out).toEqual([{ type: "start", messageId: "m" }, { type: "start-step" }, { type: "text-start", id: "t" }, text("Hi")]);
  });

  it("forwards approval chunks unchanged, and never resets for a rolled-back approval or tool step", () => {
    const { out, projection: p } = projection();
    const chunks: UIMessageChunk[] = [
      { type: "tool-approval-request", approvalId: "approval-1", toolCallId: "call-1", reason: "Costs money" },
      { type: "tool-approval-response", approvalId: "approval-1", approved: false, reason: "No" },
      { type: "tool-output-denied", toolCallId: "call-1" },
    ];
    p.data("approval-request", chunks[0]);
    p.commit("approval-request");
    p.data("tool", chunks[1]);
    p.rollback("tool", true); // a retried tool step: its chunks come again, no reset-step
    p.data("tool", chunks[1]);
    p.data("tool", chunks[2]);
    p.commit("tool");
    expect(out).toEqual([chunks[0], chunks[1], chunks[1], chunks[2]]);
  });

  it("resets a model step that streamed, then drops the retry's start-step but not its text-start", () => {
    const { out, projection: p } = projection();
    p.data("llm", { type: "start-step" });
    p.data("llm", { type: "text-start", id: "t" });
    p.data("llm", text("Wrong"));
    p.rollback("llm", true);
    p.data("llm", { type: "start-step" });
    p.data("llm", { type: "text-start", id: "t" });
    p.data("llm", text("Right"));
    p.commit("llm");
    expect(out.map((chunk) => chunk.type)).toEqual(["start-step", "text-start", "text-delta", "reset-step", "text-start", "text-delta"]);
  });

  it("sends nothing for an attempt that streamed nothing, also after an earlier reset of the same step", () => {
    const { out, projection: p } = projection();
    p.rollback("llm", true); // doStream threw before any chunk
    p.data("llm", { type: "start-step" });
    p.data("llm", text("a"));
    p.rollback("llm", true);
    p.rollback("llm", true); // the next attempt threw before any chunk
    expect(out.map((chunk) => chunk.type)).toEqual(["start-step", "text-delta", "reset-step"]);
  });

  it("never resets for a step without its own start-step (a tool step): reset-step would delete the model step's parts", () => {
    const { out, projection: p } = projection();
    p.data("llm", { type: "start-step" });
    p.data("llm", { type: "tool-input-available", toolCallId: "c", toolName: "x", input: {} });
    p.commit("llm");
    p.data("tool", { type: "tool-output-available", toolCallId: "c", output: 1, preliminary: true });
    p.rollback("tool", true);
    p.data("tool", { type: "tool-output-available", toolCallId: "c", output: 2 });
    p.commit("tool");
    expect(out.map((chunk) => chunk.type)).toEqual(["start-step", "tool-input-available", "tool-output-available", "tool-output-available"]);
  });

  it("resets on a final rollback too, and forgets the step", () => {
    const { out, projection: p } = projection();
    p.data("llm", { type: "start-step" });
    p.data("llm", text("x"));
    p.rollback("llm", false);
    p.rollback("llm", false);
    expect(out.map((chunk) => chunk.type)).toEqual(["start-step", "text-delta", "reset-step"]);
  });

  it("keeps steps apart when frames of two steps interleave", () => {
    const { out, projection: p } = projection();
    p.data("a", { type: "start-step" });
    p.data("b", { type: "data-progress", data: 1 });
    p.data("a", text("x"));
    p.rollback("b", true);
    p.rollback("a", true);
    expect(out.map((chunk) => chunk.type)).toEqual(["start-step", "data-progress", "text-delta", "reset-step"]);
  });

  it("drops data that is not a UI message chunk (the stock client would fail the whole chat on it)", () => {
    const { out, projection: p } = projection();
    p.data(null, "raw text");
    p.data(null, { delta: "no type" });
    p.data(null, null);
    expect(out).toEqual([]);
  });
});
