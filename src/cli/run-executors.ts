/**
 * The executors of an embedded `phaseflow run`: every registry the workflow module
 * itself exports, plus those of the `--executors` modules, merged into one. The same
 * registry object reached twice (a workflow file re-exporting `workers/etl.ts`'s
 * registry, and `--executors workers/etl.ts`) counts once; one executor key
 * registered by two different registries is an error naming both modules.
 */
import { ModuleLoadError, RegistryError } from "../errors/base.js";
import { createRegistry, type Registry } from "../registry/registry.js";
import { loadModule, type LoadedModule } from "./load-module.js";

/**
 * Merge the registries of `workflowModule` and of the `executorFiles` modules.
 * @throws ModuleLoadError (an executor module that does not load or exports no registry), RegistryError (`EXECUTOR_DUPLICATE`)
 * @example const registry = await collectExecutors(module, ["workers/etl.ts"], process.cwd());
 */
export async function collectExecutors(workflowModule: LoadedModule, executorFiles: readonly string[], cwd: string): Promise<Registry> {
  const sources: { file: string; registry: Registry }[] = workflowModule.registries.map((r) => ({ file: workflowModule.file, registry: r.registry }));
  for (const file of executorFiles) {
    const mod = await loadModule(file, { cwd });
    if (mod.registries.length === 0) {
      const also = mod.workflows.length > 0 ? " (it exports a workflow: pass it as the workflow file instead)" : "";
      throw new ModuleLoadError("MODULE_NO_REGISTRY", file, `"${file}" exports no executor registry${also}; export one, e.g. export const registry = createRegistry()`);
    }
    for (const { registry } of mod.registries) sources.push({ file, registry });
  }
  const merged = createRegistry();
  const seen = new Set<Registry>();
  const owner = new Map<string, string>();
  for (const { file, registry } of sources) {
    if (seen.has(registry)) continue;
    seen.add(registry);
    for (const key of registry.keys()) {
      const first = owner.get(key);
      if (first !== undefined) {
        const where = first === file ? `twice by "${file}" (two registries)` : `by both "${first}" and "${file}"`;
        throw new RegistryError("EXECUTOR_DUPLICATE", `executor "${key}" is registered ${where}; register each executor once, or drop one module from --executors`);
      }
      owner.set(key, file);
    }
    merged.use(registry);
  }
  return merged;
}
