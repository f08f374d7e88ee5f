/**
 * Values the decider hands to user functions (guards, a route's router output, map
 * `items`, a child node's `input`, limit keys, a sleep's `until`), seen through the
 * payloads its shell fetched (README "Payloads of any size"). The run state keeps payload
 * references (`{ $pfref }`, `{ $pfmerge }`) as they are, so decisions and histories stay
 * small; only where a user function reads a value does the decider look the references
 * up, in a cache its shell fills (shell/payload-cache.ts). A reference not in the cache
 * stops that rule before it decides anything: the decider asks its shell to fetch it
 * (effect `resolve`) and decides again once it is there (trigger `resolved`).
 *
 * Pure: no I/O; the cache is handed in.
 */
import { isPayloadMerge, isPayloadRef, type PayloadRef } from "../../transport/payloads.js";

/** Fetched payloads, fully resolved, by id (`sha256:<hex>`): undefined when not fetched. */
export interface PayloadView {
  get(id: string): unknown;
}

/** A rule needs these payloads' values before it can decide (thrown by `viewValue`, caught by the decider's rule; never leaves the decider). */
export class PayloadsNeeded extends Error {
  constructor(readonly refs: readonly PayloadRef[]) {
    super(`payloads not fetched yet: ${refs.map((r) => r.$pfref).join(", ")}`);
  }
}

const NONE: PayloadView = { get: () => undefined };

/**
 * `value` with every payload reference and merge reference in it replaced by its fetched
 * value (sharing what holds none).
 * @throws PayloadsNeeded naming every reference not fetched yet
 * @example viewValue({ list: { $pfref: "sha256:ab", bytes: 300000 } }, cache) // { list: [...] }
 */
export function viewValue(value: unknown, view: PayloadView | undefined): unknown {
  const missing: PayloadRef[] = [];
  const out = walk(value, view ?? NONE, missing);
  if (missing.length > 0) throw new PayloadsNeeded(missing);
  return out;
}

function walk(value: unknown, view: PayloadView, missing: PayloadRef[]): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (isPayloadRef(value)) {
    const got = view.get(value.$pfref);
    if (got === undefined) missing.push(value);
    return got;
  }
  if (isPayloadMerge(value)) {
    const merged: Record<string, unknown> = {};
    for (const part of value.$pfmerge) {
      const p = walk(part, view, missing);
      if (typeof p === "object" && p !== null && !Array.isArray(p)) Object.assign(merged, p);
    }
    return merged;
  }
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const r = walk(v, view, missing);
      if (r !== v) (out ??= value.slice())[i] = r;
    }
    return out ?? value;
  }
  let out: Record<string, unknown> | undefined;
  for (const k in value) {
    const v = (value as Record<string, unknown>)[k];
    const r = walk(v, view, missing);
    if (r !== v) (out ??= { ...(value as Record<string, unknown>) })[k] = r;
  }
  return out ?? value;
}
