#!/usr/bin/env node
// The `phaseflow` command. It registers tsx first, so users' workflow and executor
// modules written in TypeScript load with no build step on their side, then runs the
// CLI: the compiled JavaScript in dist/ (what the npm package ships).
//
// In a clone of the repository (src/ next to this file; the package never ships it)
// it runs the TypeScript source instead, and resolves `phaseflow` imports (the
// examples' self-reference) to src/ through the "phaseflow-source" export condition,
// so the repository's own tests and `npm start` never run a stale build.
import { existsSync } from "node:fs";
import { register as registerHooks } from "node:module";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

register();
const source = new URL("../src/cli/main.ts", import.meta.url);
if (existsSync(fileURLToPath(source))) {
  registerHooks("./source-condition.js", import.meta.url);
  await import(source.href);
} else {
  await import("../dist/src/cli/main.js");
}
