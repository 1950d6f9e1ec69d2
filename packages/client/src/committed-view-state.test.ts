import { describe, expect, it } from "vitest";
import { CommittedViewState, textOf } from "./committed-view-state.js";

describe("CommittedViewState applies the committed-view rules", () => {
  it("keeps parallel steps apart, commits each in one piece and drops rolled-back chunks", () => {
    const view = new CommittedViewState<unknown>();
    view.data("a", "A1");
    view.data("b", "B1");
    view.data("a", { tool: "search" });
    view.data(null, "!");
    expect(view.uncommitted.map((step) => [step.hashedStepId, step.chunks.toArray(), step.text])).toEqual([
      ["a", ["A1", { tool: "search" }], "A1"],
      ["b", ["B1"], "B1"],
      [null, ["!"], "!"],
    ]);
    expect(view.uncommittedText).toBe("A1B1!");

    view.commit("b");
    view.rollback("a");
    expect(view.committed.toArray()).toEqual(["B1"]);
    expect(view.uncommitted.map((step) => step.hashedStepId)).toEqual([null]);

    // A retried step starts a new buffer and goes to the end of the order.
    view.data("a", "a1");
    view.commit(null);
    view.commit("a");
    expect(view.committed.toArray()).toEqual(["B1", "!", "a1"]);
    expect(view.committedText).toBe("B1!a1");
    expect(view.hasPending).toBe(false);
    expect(view.uncommitted).toEqual([]);
  });

  it("ignores commits and rollbacks of steps with nothing pending", () => {
    const view = new CommittedViewState<string>(["kept"]);
    const committed = view.committed;
    view.commit("nothing");
    view.rollback("nothing");
    expect(view.committed).toBe(committed);
    expect(view.committedText).toBe("kept");
  });

  it("reuses unchanged lists and step objects, and never changes those handed out", () => {
    const view = new CommittedViewState<string>();
    view.data("a", "1");
    view.data("b", "2");
    const [stepA, stepB] = view.uncommitted;
    const committed = view.committed;
    view.data("b", "3");
    const [stepA2, stepB2] = view.uncommitted;
    expect(stepA2).toBe(stepA);
    expect(stepB2).not.toBe(stepB);
    expect(stepB?.chunks.toArray()).toEqual(["2"]);
    expect(stepB?.text).toBe("2");
    expect(stepB2?.text).toBe("23");
    expect(view.committed).toBe(committed);
    view.commit("b");
    expect(committed.length).toBe(0);
    expect(stepB2?.chunks.length).toBe(2);
  });

  it("concatenates only string chunks into text", () => {
    expect(textOf(["a", 1, null, { b: 2 }, "c"])).toBe("ac");
  });
});
