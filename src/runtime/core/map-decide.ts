/**
 * The decider's helpers for map nodes: evaluating `items(input)` once (its result goes
 * into the history as map.items events, so no replay evaluates it again) and cutting a
 * long list into events small enough for one stored message each.
 */
import { MapItemsError } from "../../errors/map.js";

/** Most items per map.items event, and about how many bytes of JSON one may hold. */
export const MAX_ITEMS_PER_EVENT = 1_000;
export const MAX_ITEM_BYTES_PER_EVENT = 128 * 1024;

/** `items(input)` as an array, or the error that fails the map node (it threw, returned no array, or is missing). */
export function evaluateItems(items: ((input: unknown) => unknown) | undefined, input: unknown, taskId: string): { ok: true; items: unknown[] } | { ok: false; error: MapItemsError } {
  if (typeof items !== "function") return { ok: false, error: new MapItemsError(taskId, "is not a function in the coordinator's copy of the workflow") };
  let out: unknown;
  try {
    out = items(input);
  } catch (err) {
    return { ok: false, error: new MapItemsError(taskId, `threw: ${err instanceof Error ? err.message : String(err)}`, { cause: err }) };
  }
  if (!Array.isArray(out)) {
    const got = out === null ? "null" : typeof out === "object" ? "an object" : typeof out;
    return { ok: false, error: new MapItemsError(taskId, `returned ${got}, not an array`) };
  }
  return { ok: true, items: Array.from(out as unknown[]) };
}

/**
 * `[from, items]` chunks of `items` starting at `start`: at most MAX_ITEMS_PER_EVENT
 * items and about MAX_ITEM_BYTES_PER_EVENT bytes of JSON each (one item is never split).
 * An empty list is one empty chunk, so the expansion is always recorded.
 */
export function chunkItems(items: readonly unknown[], start = 0): [number, unknown[]][] {
  if (items.length === 0) return [[0, []]];
  const chunks: [number, unknown[]][] = [];
  let from = start;
  let bytes = 0;
  let current: unknown[] = [];
  for (let k = start; k < items.length; k++) {
    const size = (JSON.stringify(items[k]) ?? "null").length;
    if (current.length > 0 && (current.length >= MAX_ITEMS_PER_EVENT || bytes + size > MAX_ITEM_BYTES_PER_EVENT)) {
      chunks.push([from, current]);
      from = k;
      current = [];
      bytes = 0;
    }
    current.push(items[k]);
    bytes += size;
  }
  if (current.length > 0) chunks.push([from, current]);
  return chunks;
}

/** How many failed instances a map of `count` items tolerates: a count as is, a fraction (< 1) of the count, rounded down. */
export function toleratedOf(toleratedFailures: number, count: number): number {
  return toleratedFailures < 1 ? Math.floor(toleratedFailures * count) : toleratedFailures;
}
