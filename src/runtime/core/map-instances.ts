/**
 * Map instances held compactly (issue 11's scale point). A coordinator folding a map of
 * 100,000 items keeps per instance a few typed-array columns (status, attempts, times as
 * offsets, interned executor and worker) and a slot in one array of outputs in item
 * order — not a task record object. An instance has a record object only while it is in
 * flight (dispatched, running, retrying: the decider, live signals and reports change it
 * in place); a reader's record (`status --json`, `client.get`, `handle.result()`) gets
 * objects built from the columns on demand.
 *
 * Storing is lossless by construction: `store` writes what fits the columns and keeps
 * every other field (an error, a reason, progress, a value out of a column's range) in a
 * sparse `extras` entry, so the record a reader gets equals the one a plain fold keeps
 * (tests/unit/runtime-map-compact.test.ts). Only the coordinator folds this way
 * (`createRunState(runId, model, { compact: true })`); a reader that keeps a live record
 * (the CLI follower, the web view) folds plain records.
 */
import { InstanceTable } from "./instance-table.js";
import type { TaskRecord, TaskStatus } from "./run-record-schema.js";
import { StringTable } from "./string-table.js";

export { InstanceTable, isInFlight } from "./instance-table.js";
export { StringTable } from "./string-table.js";

/** A run's map instances, for a coordinator's fold (run-state.ts). */
export class CompactInstances {
  /** Task records made so far in the run (plain and instances): the next record's place. */
  made = 0;
  /** The place of each plain record in `record.tasks`, in the same order. */
  readonly plainOrder: number[] = [];
  /** By the map node's task key. */
  readonly tables = new Map<string, InstanceTable>();
  readonly strings = new StringTable();

  /** The table of a map node, made when its items are first recorded. */
  tableFor(key: string, runId: string, state: string, visit: number, map: string, count: number): InstanceTable {
    let table = this.tables.get(key);
    if (!table) {
      table = new InstanceTable(runId, state, visit, map, this.strings, count);
      this.tables.set(key, table);
    } else {
      table.ensure(count);
    }
    return table;
  }

  /**
   * Every task record of the run in the order a plain fold lists them (order of each
   * record's making): `plain` (the record's own list) with `view` applied to each, and
   * the instances built from their columns (or `view` of the live ones).
   */
  tasks(plain: readonly TaskRecord[], view: (t: TaskRecord) => TaskRecord): TaskRecord[] {
    const out: TaskRecord[] = [];
    const cursors = [...this.tables.values()].map((table) => ({ table, ks: table.made(), i: 0 }));
    let p = 0;
    for (;;) {
      let best: (typeof cursors)[number] | undefined;
      let bestOrder = p < plain.length ? this.plainOrder[p]! : Number.POSITIVE_INFINITY;
      for (const c of cursors) {
        if (c.i < c.ks.length && c.table.order[c.ks[c.i]!]! < bestOrder) {
          best = c;
          bestOrder = c.table.order[c.ks[c.i]!]!;
        }
      }
      if (best) {
        const k = best.ks[best.i++]!;
        const live = best.table.live.get(k);
        out.push(live ? view(live) : best.table.record(k)!);
      } else if (p < plain.length) {
        out.push(view(plain[p++]!));
      } else {
        return out;
      }
    }
  }

  /** Add the instances' statuses to `counts` (by status), without building their records. */
  countStatuses(counts: Record<TaskStatus, number>): void {
    for (const table of this.tables.values()) table.countStatuses(counts);
  }

  /** Estimated heap bytes of the instances of every map. */
  bytes(): number {
    let n = this.strings.bytes() + this.plainOrder.length * 8;
    for (const t of this.tables.values()) n += t.bytes();
    return n;
  }
}
