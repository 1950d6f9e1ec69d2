// The README's quick start must work exactly as written: this runs its code block with its command
// and compares the output with the block the README says it prints.
import { execFile } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const root = new URL("./", import.meta.url).pathname;

function blockAfter(markdown: string, marker: string, language: string): string {
  const start = markdown.indexOf(marker);
  if (start === -1) throw new Error(`README has no "${marker}"`);
  const fence = `\`\`\`${language}\n`;
  const open = markdown.indexOf(fence, start);
  const close = markdown.indexOf("\n```", open + fence.length);
  return markdown.slice(open + fence.length, close + 1);
}

it("runs the README quick start as written and prints what the README says", async () => {
  const readme = await readFile(new URL("./README.md", import.meta.url), "utf8");
  const code = blockAfter(readme, "Save this as `quickstart.ts`", "ts");
  const command = blockAfter(readme, "Run it", "sh").trim();
  const expected = blockAfter(readme, "It prints:", "text");
  expect(command).toBe("pnpm exec tsx --conditions=@durastream/source quickstart.ts");
  // Same directory and name as the README says, under a name git ignores if left behind.
  const file = `${root}quickstart.ts`;
  await writeFile(file, code);
  try {
    const [executable, ...args] = command.split(" ");
    const { stdout } = await promisify(execFile)(executable!, args, { cwd: root, timeout: 60_000 });
    expect(stdout).toBe(expected);
  } finally {
    await rm(file, { force: true });
  }
}, 90_000);
