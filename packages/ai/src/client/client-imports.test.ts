// @durastream/ai/client must be safe for a browser bundle: its module graph (followed into the
// workspace packages it imports, as a bundler would) holds only the client, the protocol, this
// directory and the UI chunk projection — no server code, no node: built-ins.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const packages = fileURLToPath(new URL("../../../", import.meta.url));
const WORKSPACE: Record<string, string> = {
  "@durastream/client": "client/src/index.ts",
  "@durastream/protocol": "protocol/src/index.ts",
  "@durastream/protocol/internal": "protocol/src/internal.ts",
};
const IMPORT = /^\s*(?:import|export)\s+(type\s+)?(?:[^;]*?\s+from\s+)?["']([^"']+)["']/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** The module graph of ./index.ts: the files reached by value imports, and the outside specifiers (value or type-only). */
function moduleGraph() {
  const files = new Set<string>();
  const valueExternals = new Set<string>();
  const typeExternals = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const source = readFileSync(file, "utf8");
    const imports = [
      ...[...source.matchAll(IMPORT)].map((match) => ({ typeOnly: match[1] !== undefined, specifier: match[2]! })),
      ...[...source.matchAll(DYNAMIC_IMPORT)].map((match) => ({ typeOnly: false, specifier: match[1]! })),
    ];
    for (const { typeOnly, specifier } of imports) {
      const workspace = WORKSPACE[specifier];
      const target = specifier.startsWith(".")
        ? fileURLToPath(new URL(specifier.replace(/\.js$/, ".ts"), `file://${file}`))
        : workspace && packages + workspace;
      if (target === undefined) (typeOnly ? typeExternals : valueExternals).add(specifier);
      else if (!typeOnly) visit(target);
    }
  };
  visit(fileURLToPath(new URL("./index.ts", import.meta.url)));
  return { files: [...files].map((file) => file.slice(packages.length)), valueExternals: [...valueExternals], typeExternals: [...typeExternals] };
}

it("imports no server code: only the client, the protocol, the transport and the UI chunk projection", () => {
  const { files, valueExternals, typeExternals } = moduleGraph();

  const allowed = (file: string) =>
    file.startsWith("client/src/") || file.startsWith("protocol/src/") || file.startsWith("ai/src/client/") || file === "ai/src/chat/ui-chunk-projection.ts";
  expect(files.filter((file) => !allowed(file))).toEqual([]);
  expect(files).toContain("ai/src/chat/ui-chunk-projection.ts");
  expect(files).toContain("client/src/fetch-with-stream.ts");
  expect(files.some((file) => file.endsWith(".test.ts") || file.endsWith(".fixture.ts"))).toBe(false);
  // At run time: @ai-sdk/provider (its error classes) and the protocol's SSE parser; `ai` is a peer, imported for types only.
  expect(valueExternals.sort()).toEqual(["@ai-sdk/provider", "eventsource-parser"]);
  expect(typeExternals.filter((specifier) => specifier !== "ai" && specifier !== "@ai-sdk/provider")).toEqual([]);
});
