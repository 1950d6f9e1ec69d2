#!/bin/sh
# Builds the packages as of a commit in a directory of their own, with this checkout's bench/ and
# node_modules, so a benchmark can be run against "before" and "after" side by side (same machine,
# same minute) while the working tree moves on. Reads the repository only (git archive).
#
# Usage: bench/snapshot.sh <commit> <dir>     e.g. bench/snapshot.sh HEAD /tmp/ds-before
# Then:  (cd <dir> && node --expose-gc --import tsx bench/fanout.ts)
#        (cd /work/main && pnpm build && node --expose-gc --import tsx bench/fanout.ts)
set -eu
commit=${1:?commit}
dir=${2:?directory}
root=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$dir"
mkdir -p "$dir"
git -C "$root" rev-parse "$commit" > "$dir/COMMIT"
git -C "$root" archive "$commit" packages package.json tsconfig.json tsconfig.base.json pnpm-workspace.yaml | tar -x -C "$dir"
# This checkout's bench files (the measuring code), the commit's packages (the code measured).
mkdir -p "$dir/bench"
cp "$root"/bench/*.ts "$dir/bench/"
# node_modules: the checkout's, except the workspace packages, which point into the snapshot.
mkdir "$dir/node_modules" "$dir/node_modules/@durastream"
for entry in "$root"/node_modules/* "$root"/node_modules/.[!.]*; do
  [ -e "$entry" ] || continue
  name=$(basename "$entry")
  [ "$name" = "@durastream" ] || ln -s "$entry" "$dir/node_modules/$name"
done
for package in "$dir"/packages/*; do
  name=$(basename "$package")
  ln -s "../../packages/$name" "$dir/node_modules/@durastream/$name"
  # Relative links: workspace packages resolve inside the snapshot, the rest through node_modules/.pnpm.
  [ -d "$root/packages/$name/node_modules" ] && cp -a "$root/packages/$name/node_modules" "$package/"
done
for name in protocol client server sqlite redis; do
  [ -d "$dir/packages/$name" ] || continue
  (cd "$dir/packages/$name" && "$dir/node_modules/.bin/tsup" > "$dir/build-$name.log" 2>&1) || { echo "build of $name failed: $dir/build-$name.log" >&2; exit 1; }
done
echo "packages of $(cat "$dir/COMMIT") built in $dir"
