/**
 * The fleet's keyed stores (transport/fleet-port.ts `TypedKv`) in memory: revisions per
 * store, compare-and-set, key filters with NATS subject wildcards (`*` one token, `>` the
 * rest). Values are checked by their schema on the way in (a bad one throws, like the
 * NATS store) and on the way out (a stored value another view's schema refuses reads as
 * absent). Used where a fleet part runs without NATS (unit tests of the run store, the
 * exhausted-delivery watch and the task sweep).
 */
import type { ZodType } from "zod";
import { WireMessageInvalidError } from "../../errors/base.js";
import { StoreConflictError } from "../../errors/fleet.js";
import type { StoreName, TypedEntry, TypedKv } from "../fleet-port.js";
import { toSchemaIssues } from "../../support/schema-issues.js";

/** A create of a key that exists, or an update from a revision that is no longer the key's (errors/fleet.ts). */
export { StoreConflictError };

interface Slot {
  value: unknown;
  revision: number;
}

/** One store: its entries and its revision counter (shared by every typed view of it). */
class MemoryBucket {
  readonly entries = new Map<string, Slot>();
  revision = 0;
}

/** Whether `key` matches the subject-style `filter`. */
export function keyMatches(filter: string, key: string): boolean {
  const f = filter.split(".");
  const k = key.split(".");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === ">") return k.length > i;
    if (i >= k.length) return false;
    if (f[i] !== "*" && f[i] !== k[i]) return false;
  }
  return f.length === k.length;
}

/**
 * @example
 * const stores = createMemoryStores();
 * const runs = stores.store("runs", storedRunSchema);
 */
export function createMemoryStores(): { store<T>(name: StoreName, schema: ZodType<T>): TypedKv<T> } {
  const buckets = new Map<StoreName, MemoryBucket>();
  return {
    store<T>(name: StoreName, schema: ZodType<T>): TypedKv<T> {
      let b = buckets.get(name);
      if (b === undefined) buckets.set(name, (b = new MemoryBucket()));
      return memoryKv(name, b, schema);
    },
  };
}

function memoryKv<T>(name: string, b: MemoryBucket, schema: ZodType<T>): TypedKv<T> {
  const checked = (key: string, value: T): unknown => {
    const parsed = schema.safeParse(JSON.parse(JSON.stringify(value)));
    if (!parsed.success) throw new WireMessageInvalidError(`value of key "${key}" in store "${name}"`, toSchemaIssues(parsed.error.issues));
    return parsed.data;
  };
  const write = (key: string, value: T): number => {
    b.entries.set(key, { value: checked(key, value), revision: ++b.revision });
    return b.revision;
  };
  return {
    bucket: name,
    get(key): Promise<TypedEntry<T> | undefined> {
      const slot = b.entries.get(key);
      if (slot === undefined) return Promise.resolve(undefined);
      const parsed = schema.safeParse(slot.value);
      return Promise.resolve(parsed.success ? { key, value: parsed.data, revision: slot.revision } : undefined);
    },
    // Through a promise chain, so a refused value or a conflict rejects instead of throwing at the call.
    put: (key, value) => Promise.resolve().then(() => write(key, value)),
    create: (key, value) =>
      Promise.resolve().then(() => {
        if (b.entries.has(key)) throw new StoreConflictError(`key "${key}" exists in store "${name}"`);
        return write(key, value);
      }),
    update: (key, value, revision) =>
      Promise.resolve().then(() => {
        const current = b.entries.get(key)?.revision ?? 0;
        if (current !== revision) throw new StoreConflictError(`key "${key}" in store "${name}" is at revision ${current}, not ${revision}`);
        return write(key, value);
      }),
    delete(key) {
      b.entries.delete(key);
      return Promise.resolve();
    },
    purge(key) {
      b.entries.delete(key);
      return Promise.resolve();
    },
    keys(filter = ">") {
      return Promise.resolve([...b.entries.keys()].filter((k) => keyMatches(filter, k)));
    },
  };
}
