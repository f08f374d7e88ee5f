/**
 * The fold of map nodes (`state.map`), kept apart from the run fold (fold/maps.ts calls in here): how far a map's
 * expansion and its instances got, as compact counters per map rather than bookkeeping
 * per instance. Works without a model (a CLI follower, a status query), like the rest
 * of the record: the map's `map.items` events say how many items there are and how many
 * failures it tolerates, and its instances are the tasks named `map[k]`.
 *
 * An instance's record (`run[3]`) is a task record like any other, marked with `map`
 * and `index`; the map node's record carries `instances` (counts). The decider keeps a
 * VisitTask only for the instances in flight (at most maxConcurrency), and an instance's
 * item is dropped once it settled, so a coordinator's memory for a map grows with its
 * outputs, not with per-instance scheduling state.
 */
import type { DecisionRunEvent } from "../../transport/messages.js";
import type { TaskRecord, TaskStatus } from "./run-record-schema.js";

export interface MapProgress {
  readonly state: string;
  readonly visit: number;
  /** The map node's name. */
  readonly task: string;
  /** The map node's record. */
  readonly record: TaskRecord;
  readonly count: number;
  readonly tolerated: number;
  /** Items by index, as recorded; an item is dropped (undefined) once its instance settled. */
  readonly items: unknown[];
  /** Items recorded so far (a long list takes several map.items events). */
  received: number;
  /** The lowest index whose instance was never started: instances start in item order. */
  next: number;
  /** Instances dispatched, running or retrying. */
  open: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** The first failed instance's name, for the map's error. */
  firstFailure: string | undefined;
  /** Instances that succeeded before a retry and keep their outputs: never started again. */
  kept: Set<number> | undefined;
}

type MapItemsEvent = DecisionRunEvent & { type: "map.items" };

const OPEN: ReadonlySet<TaskStatus> = new Set(["pending", "dispatched", "running", "retrying"]);
const isOpenInstance = (s: TaskStatus | undefined): boolean => s === "dispatched" || s === "running" || s === "retrying";

/** `run[3]` -> `{ map: "run", index: 3 }`; a plain task name -> undefined. Task names cannot hold brackets, so this is unambiguous. */
export function parseInstance(task: string): { map: string; index: number } | undefined {
  if (task.charCodeAt(task.length - 1) !== 93 /* ] */) return undefined;
  const open = task.lastIndexOf("[");
  if (open <= 0) return undefined;
  const index = Number(task.slice(open + 1, -1));
  return Number.isInteger(index) && index >= 0 ? { map: task.slice(0, open), index } : undefined;
}

export const instanceName = (map: string, index: number): string => `${map}[${index}]`;

/**
 * Fold a map.items event into the map's progress (creating it, or starting it over on a
 * re-run, when `from` is 0). Returns the progress and, on a re-run, the previous one.
 */
/** Keep instance `index` (it succeeded before a retry): counted as succeeded, never started again. */
export function keepInstance(mp: MapProgress, index: number): void {
  (mp.kept ??= new Set()).add(index);
  mp.succeeded++;
  mp.items[index] = undefined;
  mp.record.instances = countsOf(mp);
}

export function foldMapItems(maps: Map<string, MapProgress>, key: string, record: TaskRecord, e: MapItemsEvent): { progress: MapProgress; previous: MapProgress | undefined } {
  let mp = maps.get(key);
  let previous: MapProgress | undefined;
  if (e.from === 0 || !mp) {
    previous = mp;
    mp = { state: e.state, visit: e.visit, task: e.task, record, count: e.count, tolerated: e.tolerated, items: new Array<unknown>(e.count), received: 0, next: 0, open: 0, succeeded: 0, failed: 0, cancelled: 0, firstFailure: undefined, kept: undefined };
    maps.set(key, mp);
  }
  for (let i = 0; i < e.items.length && e.from + i < mp.count; i++) mp.items[e.from + i] = e.items[i];
  mp.received = Math.max(mp.received, Math.min(mp.count, e.from + e.items.length));
  record.status = "running";
  record.instances = countsOf(mp);
  return { progress: mp, previous };
}

function countsOf(mp: MapProgress): NonNullable<TaskRecord["instances"]> {
  return { count: mp.count, succeeded: mp.succeeded, failed: mp.failed, running: mp.open, cancelled: mp.cancelled };
}

/**
 * An instance's record went from `before` to its current status: update its map's
 * counters. Returns true when this settled the map: every instance settled, within the
 * tolerated failures (the caller then settles the map node as succeeded).
 */
export function trackInstance(mp: MapProgress, t: TaskRecord, index: number, before: TaskStatus | undefined): boolean {
  const after = t.status;
  if (index >= mp.next) mp.next = index + 1;
  if (before !== after) {
    if (isOpenInstance(before)) mp.open--;
    else if (before === "succeeded") mp.succeeded--;
    else if (before === "failed") mp.failed--;
    else if (before === "cancelled" || before === "skipped") mp.cancelled--;
    if (isOpenInstance(after)) mp.open++;
    else if (after === "succeeded") mp.succeeded++;
    else if (after === "failed") {
      mp.failed++;
      mp.firstFailure ??= t.task;
    } else if (after === "cancelled" || after === "skipped") mp.cancelled++;
  }
  // What a settled instance ran on is no longer needed (a re-run expands the map again).
  if (!OPEN.has(after) && index < mp.items.length) mp.items[index] = undefined;
  // Every instance settled: the list itself goes too (a slot per item).
  if (mp.items.length > 0 && mp.received === mp.count && mp.succeeded + mp.failed + mp.cancelled === mp.count) mp.items.length = 0;
  const c = mp.record.instances;
  if (c) {
    c.succeeded = mp.succeeded;
    c.failed = mp.failed;
    c.running = mp.open;
    c.cancelled = mp.cancelled;
  }
  return mp.record.status === "running" && mp.received === mp.count && mp.succeeded + mp.failed === mp.count && mp.failed <= mp.tolerated;
}

/** The map's output: its instances' outputs in item order (null for a tolerated failure). */
export function mapOutputOf(mp: MapProgress, instance: (index: number) => TaskRecord | undefined): unknown[] {
  const out = new Array<unknown>(mp.count);
  for (let k = 0; k < mp.count; k++) {
    const t = instance(k);
    out[k] = t?.status === "succeeded" ? (t.output ?? null) : null;
  }
  return out;
}

/** Whether a map failed beyond what it tolerates. */
export const mapOverTolerance = (mp: MapProgress): boolean => mp.failed > mp.tolerated;
