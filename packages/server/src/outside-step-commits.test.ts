import { describe, expect, it } from "vitest";
import { OutsideStepCommits } from "./outside-step-commits.js";
import type { FrameToAppend } from "./store/run-store.js";

describe("OutsideStepCommits", () => {
  it("skips pushes the log has committed already, and commits the rest once", () => {
    const commits = new OutsideStepCommits(2); // a replay: the log has 2 committed
    expect([commits.admit(), commits.admit(), commits.admit()]).toEqual([false, false, true]);
    const frames: FrameToAppend[] = [];
    expect(commits.take(frames)).toBe(3);
    expect(frames).toEqual([{ type: "commit", payload: '{"step":null}' }]);
    expect(commits.take([])).toBeUndefined(); // nothing new since
  });

  it("restores what a take committed when its append failed", () => {
    const commits = new OutsideStepCommits(0);
    commits.admit();
    const mark = commits.mark();
    expect(commits.take([])).toBe(1);
    commits.restore(mark);
    commits.admit();
    expect(commits.take([])).toBe(2);
  });
});
