#!/usr/bin/env node
// The `phaseflow` command: the compiled JavaScript in dist/ (what the npm package
// ships). It does not register tsx up front: that costs more than the rest of the
// start-up (a loader thread, esbuild); src/cli/load-module.ts registers it when a
// TypeScript workflow or executor module is loaded, so users' .ts modules still load
// with no build step on their side.
//
// In a clone of the repository (src/ next to this file; the package never ships it)
// it runs dist/ only while the last complete `npm run build` (dist/build-complete,
// written after tsc) is newer than every file and directory under src/; otherwise it registers tsx and runs the TypeScript
// source, resolving `phaseflow` imports (the examples' self-reference) to src/
// through the "phaseflow-source" export condition, so the repository's own tests and
// `npm start` never run a stale build.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const built = new URL("../dist/src/cli/main.js", import.meta.url);
const source = new URL("../src/cli/main.ts", import.meta.url);

/** Newest modification time (ms) of `dir` and everything under it. */
function newestUnder(dir) {
  let newest = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestUnder(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Whether a complete build of dist/ ran after the last change to src/ (a deleted file changes its directory's time). */
function builtIsFresh() {
  const stamp = fileURLToPath(new URL("../dist/build-complete", import.meta.url));
  if (!existsSync(stamp) || !existsSync(fileURLToPath(built))) return false;
  return statSync(stamp).mtimeMs >= newestUnder(fileURLToPath(new URL("../src", import.meta.url)));
}

if (!existsSync(fileURLToPath(source)) || builtIsFresh()) {
  await import(built.href);
} else {
  const [{ register }, { register: registerHooks }] = await Promise.all([import("tsx/esm/api"), import("node:module")]);
  register();
  registerHooks("./source-condition.js", import.meta.url);
  globalThis[Symbol.for("phaseflow.typescript-loader")] = true;
  await import(source.href);
}
