#!/usr/bin/env node
// The `phaseflow` command. Runs the TypeScript CLI through tsx, so workflow files
// written in TypeScript load without a build step.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
