/**
 * The rows of `phaseflow queues` (README "Traffic control"): per limit scope and key value,
 * attempts waiting, concurrency slots in use and rate use in the current window. One builder
 * for both faces, so they show the same thing: an embedded engine's `engine.queues()` from its
 * gate in memory, a fleet's `client.queues()` from every coordinator's waiting counts and the
 * limits' stored state (fleet/queues-report.ts).
 *
 * Pure: the uses are handed in.
 */
import type { LimitRef } from "./limit-state.js";

/** One row: a limit scope (by default the executor) at one key value. */
export interface QueueRow {
  scope: string;
  /** The key value ("" when the limit has no key). */
  key: string;
  /** Attempts waiting for this limit and key. */
  waiting: number;
  /** The concurrency limit: attempts holding a slot now, of `limit`. */
  concurrency?: { running: number; limit: number };
  /** The rate limit: starts in the current window of `periodMs`, of `limit`. */
  rate?: { started: number; limit: number; periodMs: number };
}

/** What is known of one limit at one key: its holdings in force (or starts in the window) and its waiting attempts. */
export interface QueueUse {
  ref: LimitRef;
  used: number;
  waiting: number;
}

/**
 * Rows from limit uses, a concurrency and a rate limit of one scope and key on one row,
 * sorted by scope, then key.
 * @example queueRowsOf([{ ref: { kind: "concurrency", scope: "llm/complete", key: "acme", limit: 8 }, used: 8, waiting: 12 }])
 * // [{ scope: "llm/complete", key: "acme", waiting: 12, concurrency: { running: 8, limit: 8 } }]
 */
export function queueRowsOf(uses: Iterable<QueueUse>): QueueRow[] {
  const rows = new Map<string, QueueRow>();
  for (const { ref, used, waiting } of uses) {
    const id = `${ref.scope}\u0000${ref.key}`;
    const row = rows.get(id) ?? { scope: ref.scope, key: ref.key, waiting: 0 };
    // An attempt of a task with both limits waits on both: count it once.
    row.waiting = Math.max(row.waiting, waiting);
    if (ref.kind === "concurrency") row.concurrency = { running: used, limit: ref.limit };
    else row.rate = { started: used, limit: ref.limit, periodMs: ref.periodMs };
    rows.set(id, row);
  }
  return [...rows.values()].sort((a, b) => a.scope.localeCompare(b.scope) || a.key.localeCompare(b.key));
}
