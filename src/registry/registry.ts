/**
 * The namespaced executor registry. Executors are registered apart from workflow
 * definitions, so a worker process needs only executor modules, never workflow files.
 * Registering a key twice is an error, never a silent overwrite.
 */
import { ExecutorNotFoundError, RegistryError } from "../errors/base.js";
import { checkExecutorKey, checkKeyPart } from "./keys.js";
import type { ExecutorEntry, ExecutorFn, ExecutorOptions } from "./types.js";

const REGISTRY_BRAND = Symbol.for("phaseflow.registry");

export interface RegistryNamespace {
  readonly name: string;
  /**
   * Register `fn` as `namespace/name`. Returns the namespace, so registrations chain.
   * @example registry.namespace("etl").register("extract", async (input) => ({ rows: [] }))
   */
  register<I, O, P = unknown>(name: string, fn: ExecutorFn<I, O, P>, options?: ExecutorOptions<I, O>): RegistryNamespace;
}

export interface Registry {
  readonly [REGISTRY_BRAND]: true;
  namespace(name: string): RegistryNamespace;
  get(key: string): ExecutorEntry | undefined;
  /** Like `get`, but throws `ExecutorNotFoundError` naming the registered keys. */
  resolve(key: string): ExecutorEntry;
  has(key: string): boolean;
  /** Every registered key, sorted. */
  keys(): string[];
  /** Every namespace with at least one executor, sorted. */
  namespaces(): string[];
  /** Copy every executor of `other` into this registry (duplicates are errors). Returns this. */
  use(other: Registry): Registry;
}

/**
 * Create an empty registry.
 * @example
 * const registry = createRegistry();
 * registry.namespace("etl").register("extract", extract, { output: rowsSchema });
 */
export function createRegistry(): Registry {
  const entries = new Map<string, ExecutorEntry>();

  const add = (entry: ExecutorEntry): void => {
    const problem = checkExecutorKey(entry.key);
    if (problem) throw new RegistryError("EXECUTOR_KEY_INVALID", `executor key "${entry.key}" ${problem}`);
    if (entries.has(entry.key)) {
      throw new RegistryError("EXECUTOR_DUPLICATE", `executor "${entry.key}" is already registered; register each key once (or use another name)`);
    }
    entries.set(entry.key, entry);
  };

  const registry: Registry = {
    [REGISTRY_BRAND]: true,
    namespace(ns) {
      const problem = checkKeyPart(ns);
      if (problem) throw new RegistryError("EXECUTOR_KEY_INVALID", `executor namespace "${ns}" ${problem}`);
      const handle: RegistryNamespace = {
        name: ns,
        register(name, fn, options = {}) {
          if (typeof fn !== "function") {
            throw new RegistryError("EXECUTOR_KEY_INVALID", `executor "${ns}/${name}" must be a function, got ${typeof fn}`);
          }
          add({
            key: `${ns}/${name}`,
            namespace: ns,
            name,
            fn: fn as ExecutorFn<unknown, unknown>,
            input: options.input,
            output: options.output,
            description: options.description,
          });
          return handle;
        },
      };
      return handle;
    },
    get: (key) => entries.get(key),
    resolve(key) {
      const entry = entries.get(key);
      if (!entry) throw new ExecutorNotFoundError(key, [...entries.keys()].sort());
      return entry;
    },
    has: (key) => entries.has(key),
    keys: () => [...entries.keys()].sort(),
    namespaces: () => [...new Set([...entries.values()].map((e) => e.namespace))].sort(),
    use(other) {
      for (const key of other.keys()) add(other.resolve(key));
      return registry;
    },
  };
  return registry;
}

export function isRegistry(value: unknown): value is Registry {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[REGISTRY_BRAND] === true;
}
