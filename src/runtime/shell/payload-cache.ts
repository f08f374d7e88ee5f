/**
 * Payloads a coordinator fetched for its decider (runtime/core/payload-view.ts): the
 * values that guards, routes, map `items`, a child node's `input`, limit keys and a
 * sleep's `until` read, when they are over `inlineBytes` and travel as references.
 *
 * Lazy: a payload is fetched only when a rule asks for it (effect `resolve`), never for
 * an output that merely passes from task to task. Content-addressed, so one cache serves
 * every run of the coordinator: two runs reading the same bytes fetch them once. Bounded:
 * at most `maxBytes` of payload JSON (default 64 MiB) is kept, least recently fetched or
 * read first out; a batch being fetched for one decision is never dropped for its own
 * members, so a decision over more than the bound still gets all it asked for (and the
 * bound holds again after the next fetch).
 */
import type { PayloadView } from "../core/payload-view.js";
import type { PayloadRef, Payloads } from "../../transport/payloads.js";

/** Default bound of a coordinator's payload cache: 64 MiB of JSON. */
export const DEFAULT_PAYLOAD_CACHE_BYTES = 64 * 1024 * 1024;

export interface PayloadCache extends PayloadView {
  /** Fetch `refs` not held yet (each once, however many runs ask at the same time). Rejects with the first fetch's error. */
  fetch(payloads: Payloads, refs: readonly PayloadRef[]): Promise<void>;
  /** What is held: entries and their bytes. */
  size(): { entries: number; bytes: number };
}

/** @example const cache = createPayloadCache(); await cache.fetch(transport.payloads!, refs); cache.get(refs[0].$pfref); */
export function createPayloadCache(maxBytes = DEFAULT_PAYLOAD_CACHE_BYTES): PayloadCache {
  const held = new Map<string, { value: unknown; bytes: number }>();
  const inFlight = new Map<string, Promise<void>>();
  let bytes = 0;

  const keep = (id: string, value: unknown, size: number, batch: ReadonlySet<string>): void => {
    const old = held.get(id);
    if (old) {
      bytes -= old.bytes;
      held.delete(id);
    }
    held.set(id, { value, bytes: size });
    bytes += size;
    for (const [key, entry] of held) {
      if (bytes <= maxBytes) break;
      if (batch.has(key)) continue;
      held.delete(key);
      bytes -= entry.bytes;
    }
  };

  return {
    get(id) {
      const entry = held.get(id);
      if (!entry) return undefined;
      // Read again: it moves to the back of the line.
      held.delete(id);
      held.set(id, entry);
      return entry.value;
    },
    async fetch(payloads, refs) {
      const batch = new Set(refs.map((r) => r.$pfref));
      await Promise.all(
        refs.map((ref) => {
          const id = ref.$pfref;
          if (held.has(id)) return Promise.resolve();
          let pending = inFlight.get(id);
          if (!pending) {
            pending = payloads.resolve(ref).then((value) => keep(id, value, ref.bytes, batch));
            inFlight.set(id, pending);
            void pending.then(
              () => inFlight.delete(id),
              () => inFlight.delete(id),
            );
          }
          return pending;
        }),
      );
    },
    size: () => ({ entries: held.size, bytes }),
  };
}
