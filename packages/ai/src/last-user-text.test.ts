import { describe, expect, it } from "vitest";
import { lastUserText } from "./last-user-text.js";

describe("lastUserText", () => {
  it("takes the last user message of a provider prompt, joining its text parts and skipping others", () => {
    expect(
      lastUserText([
        { role: "system", content: "Be brief." },
        { role: "user", content: [{ type: "text", text: "First question" }] },
        { role: "assistant", content: [{ type: "text", text: "An answer" }] },
        {
          role: "user",
          content: [
            { type: "text", text: "Second" },
            { type: "file", mediaType: "image/png", data: "iVBOR" },
            { type: "text", text: "question" },
          ],
        },
        { role: "assistant", content: [{ type: "text", text: "Thinking…" }] },
      ]),
    ).toBe("Second\nquestion");
  });

  it("accepts call options, request bodies with messages (content strings or UI message parts) and strings", () => {
    expect(lastUserText({ prompt: [{ role: "user", content: [{ type: "text", text: "from call" }] }] })).toBe("from call");
    expect(lastUserText({ messages: [{ role: "user", content: "plain content" }] })).toBe("plain content");
    expect(lastUserText({ messages: [{ id: "m1", role: "user", parts: [{ type: "step-start" }, { type: "text", text: "ui message" }] }] })).toBe("ui message");
    expect(lastUserText("just text")).toBe("just text");
  });

  it("returns an empty string when there is no user text", () => {
    for (const prompt of [undefined, null, 42, {}, [], [{ role: "system", content: "x" }], [null, "junk"], { messages: "no" }]) {
      expect(lastUserText(prompt)).toBe("");
    }
    expect(lastUserText([{ role: "user", content: [{ type: "file", data: "…" }] }])).toBe("");
  });
});
