/**
 * Loads the modules named on the command line: workflow files (their exported
 * workflows) and executor modules (their exported registries). A `.ts` file loads
 * without a build: tsx is registered just before the first one (only then, since
 * registering it costs more than the rest of the CLI's start-up). Every way this can go
 * wrong (no such file, the module throws on import, it exports nothing usable,
 * several workflows and no `--workflow`) is a `ModuleLoadError` with one line that
 * names the file and the fix; the CLI maps it to exit code 2.
 *
 * Workflows are found with `isWorkflow` and registries with `isRegistry` (brands on
 * `Symbol.for`, so copies of phaseflow loaded twice still recognise each other).
 */
import { statSync } from "node:fs";
import * as nodeModule from "node:module";
import { extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ModuleLoadError } from "../errors/base.js";
import { compareVersions } from "../plan/versions.js";
import { isWorkflow, type Workflow } from "../dsl/workflow.js";
import { createRegistry, isRegistry, type Registry } from "../registry/registry.js";

const EXTENSIONS = new Set([".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"]);
const TYPESCRIPT = new Set([".ts", ".mts", ".cts"]);
/** Set (on globalThis) once a TypeScript loader is registered; bin/phaseflow.js sets it when it runs the source through tsx. */
const LOADER_FLAG = Symbol.for("phaseflow.typescript-loader");

/**
 * Make `.ts` modules importable: register tsx, unless this very module runs as
 * TypeScript (tsx or vitest already transform) or it was registered before.
 */
async function ensureTypeScriptLoader(): Promise<void> {
  const flags = globalThis as unknown as Record<symbol, unknown>;
  if (flags[LOADER_FLAG] === true || import.meta.url.endsWith(".ts")) return;
  flags[LOADER_FLAG] = true;
  // Every module loaded after tsx is registered goes through its loader thread (a
  // round trip per module); workflow modules import phaseflow itself, so load it first,
  // directly: the same file a user module's `import "phaseflow"` resolves to.
  await import("../index.js");
  if (typeof (nodeModule as { registerHooks?: unknown }).registerHooks === "function") {
    // Node 22.15 and later: tsx's API runs its hooks in this thread, with no loader thread.
    const { register } = await import("tsx/esm/api");
    register();
    return;
  }
  // Node 20: hooks run on a loader thread. Register tsx's hooks module there directly, as
  // `node --import tsx/esm` ends up doing, so this thread never loads tsx and esbuild
  // itself (tsx's API would, only to call this). What that API adds here is for its
  // namespaced imports, which are not used; its source-map switch is repeated.
  nodeModule.register("tsx/esm", import.meta.url, { data: {} });
  process.setSourceMapsEnabled(true);
}

export interface LoadModuleOptions {
  /** Directory a relative path is resolved against. Default `process.cwd()`. */
  cwd?: string;
}

export interface LoadedModule {
  /** The path as given. */
  file: string;
  /** The absolute path that was imported. */
  path: string;
  /** Exported workflows, each once even when exported under two names. */
  workflows: { exportName: string; workflow: Workflow<unknown> }[];
  /** Exported executor registries, each once. */
  registries: { exportName: string; registry: Registry }[];
}

/**
 * Import a module by path and collect its workflows and registries.
 * @throws ModuleLoadError (`MODULE_NOT_FOUND`, `MODULE_UNSUPPORTED`, `MODULE_IMPORT_FAILED`)
 * @example const mod = await loadModule("examples/etl.ts"); mod.workflows[0]?.workflow.name // "etl"
 */
export async function loadModule(file: string, options: LoadModuleOptions = {}): Promise<LoadedModule> {
  const path = resolve(options.cwd ?? process.cwd(), file);
  const stat = statSync(path, { throwIfNoEntry: false });
  if (stat === undefined) {
    throw new ModuleLoadError("MODULE_NOT_FOUND", file, `file "${file}" does not exist (looked for ${path}); check the path, which is relative to the current directory`);
  }
  if (!stat.isFile()) {
    throw new ModuleLoadError("MODULE_UNSUPPORTED", file, `"${file}" is not a file; pass a .ts or .js module`);
  }
  if (!EXTENSIONS.has(extname(path))) {
    throw new ModuleLoadError("MODULE_UNSUPPORTED", file, `"${file}" is not a JavaScript or TypeScript module; pass a .ts or .js file`);
  }
  let exports: Record<string, unknown>;
  try {
    if (TYPESCRIPT.has(extname(path))) await ensureTypeScriptLoader();
    exports = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    // Every line: a syntax error's location is on the lines after "Transform failed with 1 error:".
    const reason = err instanceof Error ? err.message : String(err);
    const lines = reason.split("\n").map((l) => l.trimEnd()).filter((l) => l.trim().length > 0);
    const detail = lines.length <= 1 ? ` ${lines[0]?.trim() ?? "unknown error"}` : `\n${lines.map((l) => `  ${l}`).join("\n")}\n`;
    throw new ModuleLoadError("MODULE_IMPORT_FAILED", file, `loading "${file}" failed:${detail}${lines.length <= 1 ? "; " : ""}fix the module`, { cause: err });
  }
  const workflows: LoadedModule["workflows"] = [];
  const registries: LoadedModule["registries"] = [];
  for (const [exportName, value] of Object.entries(exports)) {
    if (isWorkflow(value) && !workflows.some((w) => w.workflow === value)) workflows.push({ exportName, workflow: value });
    if (isRegistry(value) && !registries.some((r) => r.registry === value)) registries.push({ exportName, registry: value });
  }
  return { file, path, workflows, registries };
}

/**
 * Pick one workflow of a loaded module: the only one, or the one named `name`
 * (matched against the workflow's own name first, then the export name).
 * @throws ModuleLoadError (`MODULE_NO_WORKFLOW`, `WORKFLOW_AMBIGUOUS`, `WORKFLOW_NOT_FOUND`)
 * @example pickWorkflow(mod, "etl")
 */
export function pickWorkflow(mod: LoadedModule, name?: string, registryHint = "pass that module to --executors instead", version?: string): Workflow<unknown> {
  const { file } = mod;
  const workflows = versionsPicked(mod, version);
  if (workflows.length === 0) {
    const also = mod.registries.length > 0 ? ` (it exports an executor registry: ${registryHint})` : "";
    throw new ModuleLoadError("MODULE_NO_WORKFLOW", file, `"${file}" exports no workflow${also}; export one, e.g. export const wf = workflow("name", { version: "1" })`);
  }
  const listing = workflows.map((w) => (w.exportName === w.workflow.name ? w.workflow.name : `${w.workflow.name} (export ${w.exportName})`)).join(", ");
  if (name === undefined) {
    if (workflows.length === 1) return workflows[0]!.workflow;
    throw new ModuleLoadError("WORKFLOW_AMBIGUOUS", file, `"${file}" exports ${workflows.length} workflows: ${listing}; choose one with --workflow NAME`);
  }
  const found = workflows.find((w) => w.workflow.name === name) ?? workflows.find((w) => w.exportName === name);
  if (!found) {
    throw new ModuleLoadError("WORKFLOW_NOT_FOUND", file, `"${file}" has no workflow "${name}"; available: ${listing}`);
  }
  return found.workflow;
}

/**
 * Load a workflow module and pick one workflow from it.
 * @example const { workflow } = await loadWorkflow("examples/etl.ts", { workflow: "etl" });
 */
export async function loadWorkflow(file: string, options: LoadModuleOptions & { workflow?: string | undefined; version?: string | undefined } = {}): Promise<{ module: LoadedModule; workflow: Workflow<unknown> }> {
  const module = await loadModule(file, options);
  return { module, workflow: pickWorkflow(module, options.workflow, undefined, options.version) };
}

/**
 * A module may export several versions of one workflow: keep one per name, the one
 * `version` names (when given, names without it are dropped), else the latest.
 */
function versionsPicked(mod: LoadedModule, version: string | undefined): LoadedModule["workflows"] {
  const byName = new Map<string, LoadedModule["workflows"]>();
  for (const w of mod.workflows) byName.set(w.workflow.name, [...(byName.get(w.workflow.name) ?? []), w]);
  const picked: LoadedModule["workflows"][number][] = [];
  for (const versions of byName.values()) {
    if (version !== undefined) {
      const hit = versions.find((w) => w.workflow.version === version);
      if (hit) picked.push(hit);
      continue;
    }
    picked.push(versions.reduce((a, b) => (compareVersions(b.workflow.version, a.workflow.version) > 0 ? b : a)));
  }
  if (picked.length === 0 && version !== undefined) {
    const listing = mod.workflows.map((w) => `${w.workflow.name}@${w.workflow.version}`).join(", ");
    throw new ModuleLoadError("WORKFLOW_NOT_FOUND", mod.file, `"${mod.file}" has no workflow of version "${version}"; available: ${listing}`);
  }
  return picked;
}

/**
 * Load executor modules and merge every registry they export into one (a key
 * registered by two modules is an error). Each module must export at least one.
 * @throws ModuleLoadError (`MODULE_NO_REGISTRY` and the `loadModule` codes); RegistryError on duplicate keys
 * @example const registry = await loadRegistries(["workers/etl.ts"]);
 */
export async function loadRegistries(files: readonly string[], options: LoadModuleOptions = {}): Promise<Registry> {
  const merged = createRegistry();
  for (const file of files) {
    const mod = await loadModule(file, options);
    if (mod.registries.length === 0) {
      throw new ModuleLoadError("MODULE_NO_REGISTRY", file, `"${file}" exports no executor registry; export one, e.g. export const registry = createRegistry()`);
    }
    for (const { registry } of mod.registries) merged.use(registry);
  }
  return merged;
}
