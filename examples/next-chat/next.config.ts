import { existsSync } from "node:fs";
import path from "node:path";
import type { NextConfig } from "next";

/**
 * Inside the Durastream repository, the `@durastream/*` packages are workspace links whose
 * `exports` map points at `dist/` (made by `pnpm build`) and, under the custom export condition
 * `@durastream/source`, at their TypeScript sources. This config makes Next bundle the sources
 * directly, so no package build is needed and an edit to a package shows up in `next dev` at once:
 *
 * - `transpilePackages`: compile (and bundle) these packages like app code;
 * - `@durastream/source` is added to every place webpack resolves export conditions;
 * - `.js` in the packages' relative imports also finds the `.ts` file (`extensionAlias`), as
 *   TypeScript's "bundler" resolution does.
 *
 * This needs webpack (`next dev --webpack`, `next build --webpack`, as in package.json): Turbopack
 * (Next 16's default bundler) has no option for custom export conditions and cannot resolve `.js`
 * imports to `.ts` files (vercel/next.js#82945).
 *
 * Outside the repository (the packages installed from npm) none of this is needed: drop the
 * `webpack` and `experimental` parts, and plain `next dev` / `next build` with Turbopack work.
 */
const SOURCE_CONDITION = "@durastream/source";
const inWorkspace = existsSync(path.resolve(process.cwd(), "../../packages/server/src/index.ts"));

interface ResolveOptions {
  conditionNames?: string[];
}
interface Rule {
  resolve?: ResolveOptions;
  oneOf?: Rule[];
  rules?: Rule[];
}

/** Puts the source condition first in every `conditionNames` list (Next sets some per layer, in module rules). */
function preferSources(resolve: ResolveOptions | undefined): void {
  if (resolve?.conditionNames && !resolve.conditionNames.includes(SOURCE_CONDITION)) {
    resolve.conditionNames = [SOURCE_CONDITION, ...resolve.conditionNames];
  }
}
function preferSourcesInRules(rules: readonly unknown[] | undefined): void {
  for (const rule of rules ?? []) {
    if (typeof rule !== "object" || rule === null) continue;
    const { resolve, oneOf, rules: nested } = rule as Rule;
    preferSources(resolve);
    preferSourcesInRules(oneOf);
    preferSourcesInRules(nested);
  }
}

const nextConfig: NextConfig = {
  transpilePackages: ["@durastream/server", "@durastream/client", "@durastream/react", "@durastream/protocol", "@durastream/ai"],
  ...(inWorkspace && {
    experimental: { extensionAlias: { ".js": [".ts", ".tsx", ".js"] } },
    webpack(config: { resolve?: ResolveOptions; module?: { rules?: unknown[] } }) {
      preferSources(config.resolve);
      preferSourcesInRules(config.module?.rules);
      return config;
    },
  }),
};

export default nextConfig;
