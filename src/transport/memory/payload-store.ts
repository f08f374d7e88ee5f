/**
 * The in-memory `PayloadStore` (transport/payloads.ts): objects and their holding runs in
 * maps, with the NATS store's semantics (one object per content, deleted when no run holds
 * it). For tests of the payload rules and for processes that want references without a server.
 */
import type { PayloadStore, StoredPayload } from "../payloads.js";

/** @example const payloads = createPayloads(memoryPayloadStore(), { sha256 }); */
export function memoryPayloadStore(): PayloadStore {
  const objects = new Map<string, Uint8Array>();
  const holders = new Map<string, Set<string>>();
  return {
    put(runId, id, data) {
      let runs = holders.get(id);
      if (runs === undefined) holders.set(id, (runs = new Set()));
      runs.add(runId);
      // Absent, or damaged (not these bytes, which hash to `id`): stored.
      const held = objects.get(id);
      if (held === undefined || !sameBytes(held, data)) objects.set(id, data.slice());
      return Promise.resolve();
    },
    get(id) {
      return Promise.resolve(objects.get(id));
    },
    release(runId) {
      let deleted = 0;
      for (const [id, runs] of holders) {
        if (!runs.delete(runId) || runs.size > 0) continue;
        holders.delete(id);
        if (objects.delete(id)) deleted++;
      }
      return Promise.resolve(deleted);
    },
    list() {
      const out: StoredPayload[] = [];
      for (const [id, data] of objects) out.push({ id, bytes: data.byteLength, runs: [...(holders.get(id) ?? [])] });
      return Promise.resolve(out);
    },
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
