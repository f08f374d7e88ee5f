/**
 * The fold of map nodes: `map.items` expands a map node, and every event of one of its
 * instances (`run[3]`) is folded as a task's event, then counted toward its map
 * (map-state.ts), which settles when its last instance has. A compact fold keeps the
 * instances not in flight in columns (map-instances.ts) and makes a record live only
 * while an event changes it.
 */
import type { RunEventOf } from "../../../transport/messages.js";
import { isInFlight, type InstanceTable } from "../map-instances.js";
import { foldMapItems, instanceName, keepInstance, mapOutputOf, trackInstance, type MapProgress } from "../map-state.js";
import { taskKey, taskRecordOf, type FoldedEvent, type RunState } from "./state.js";
import { resetForRerun, taskOf } from "./tasks.js";
import { leavePending, settle, visitTask } from "./visit.js";

/** An event of a map instance (any event naming a task but map.items). */
export type InstanceEvent = Exclude<Extract<FoldedEvent, { task: string }>, { type: "map.items" }>;

/** A map node expands (map.items): its instances' records start over, but those a retry keeps. */
export function foldMapItemsEvent(st: RunState, e: RunEventOf<"map.items">): void {
  const t = taskOf(st, e);
  const key = taskKey(e.state, e.visit, e.task);
  const { progress, previous } = foldMapItems(st.maps, key, t, e);
  st.compact?.tableFor(key, st.runId, e.state, e.visit, e.task, e.count);
  // A retry that keeps the map's succeeded instances (same item count): only the others start over.
  if (previous && e.keep === true && previous.count === e.count) {
    for (let k = 0; k < e.count; k++) {
      if (taskRecordOf(st, e.state, e.visit, instanceName(e.task, k))?.status === "succeeded") keepInstance(progress, k);
    }
  }
  if (previous) resetInstances(st, previous, progress.kept);
  const vt = visitTask(st, e);
  if (vt && vt.status === "pending") {
    leavePending(st.visit!, vt);
    vt.status = "running";
    if (vt.layout.plan.phase > st.visit!.phase) st.visit!.phase = vt.layout.plan.phase;
  }
  if (e.from === 0 && e.count === 0) {
    t.status = "succeeded";
    t.output = [];
    t.finishedAt = e.at;
    settle(st, e, "succeeded", t.output);
  }
}

/**
 * An event of instance `inst` of a map: folded by `foldOne` as any task's event, then
 * counted toward its map, which succeeds with its last instance.
 */
export function foldInstanceEvent(st: RunState, e: InstanceEvent, inst: { readonly map: string; readonly index: number }, foldOne: (st: RunState, e: FoldedEvent) => void): void {
  const key = taskKey(e.state, e.visit, e.task);
  const mapKey = taskKey(e.state, e.visit, inst.map);
  const table = st.compact ? liveInstance(st, e, key, mapKey, inst.index) : undefined;
  const before = st.tasks.get(key)?.status;
  if (e.type === "task.dispatched" || e.type === "task.waiting") openInstance(st, e, inst.index);
  foldOne(st, e);
  const t = st.tasks.get(key);
  const mp = st.maps.get(mapKey);
  if (!t || !mp) return;
  t.map ??= inst.map;
  t.index ??= inst.index;
  const settled = trackInstance(mp, t, inst.index, before);
  if (table?.live.get(inst.index) === t && !isInFlight(t.status)) {
    table.store(inst.index, t);
    st.tasks.delete(key);
  }
  if (settled) {
    const m = mp.record;
    m.status = "succeeded";
    m.output = table && isWhole(table, mp.count) ? table.mapOutput(mp.count) : mapOutputOf(mp, (k) => taskRecordOf(st, mp.state, mp.visit, instanceName(mp.task, k)));
    m.finishedAt = e.at;
    settle(st, { state: mp.state, visit: mp.visit, task: mp.task }, "succeeded", m.output);
  }
}

/** A map expanded again (a re-run): its earlier instances' records start over, but those in `kept`. */
function resetInstances(st: RunState, previous: MapProgress, kept?: ReadonlySet<number>): void {
  const table = st.compact?.tables.get(taskKey(previous.state, previous.visit, previous.task));
  table?.resetStored(previous.count, kept);
  for (let k = 0; k < previous.count; k++) {
    if (kept?.has(k)) continue;
    const key = taskKey(previous.state, previous.visit, instanceName(previous.task, k));
    const t = st.tasks.get(key);
    if (!t) continue;
    resetForRerun(t);
    if (table?.live.get(k) === t) {
      table.store(k, t);
      st.tasks.delete(key);
    }
  }
}

/**
 * A compact fold: the instance's table (undefined when its index is out of the map's
 * range, so it is a plain record), with the instance's record made live first when the
 * event changes it (a task.* event; a report finds its record through its attempt).
 */
function liveInstance(st: RunState, e: { type: string; state: string; visit: number; task: string }, key: string, mapKey: string, index: number): InstanceTable | undefined {
  const table = st.compact!.tables.get(mapKey);
  if (!table || index >= table.capacity) return undefined;
  if (e.type.startsWith("task.") && !st.tasks.has(key)) {
    const t = table.has(index) ? table.revive(index) : table.create(index, st.compact!.made++);
    st.tasks.set(key, t);
    const vt = visitTask(st, e);
    if (vt) vt.record = t;
  }
  return table;
}

/** Whether every instance of the map below `count` is in the table (none was recorded as a plain task). */
function isWhole(table: InstanceTable, count: number): boolean {
  for (let k = 0; k < count; k++) if (!table.has(k)) return false;
  return true;
}

/** The decider's view of an instance in flight: made on its first dispatch of this go, dropped when it settles. */
function openInstance(st: RunState, e: { state: string; visit: number; task: string; attempt: number }, index: number): void {
  const v = st.visit;
  if (!v || v.state !== e.state || v.visit !== e.visit || v.tasks.has(e.task)) return;
  const node = v.tasks.get(e.task.slice(0, e.task.lastIndexOf("[")));
  if (!node) return;
  const record = st.tasks.get(taskKey(e.state, e.visit, e.task));
  v.tasks.set(e.task, { layout: node.layout, status: "pending", attempts: record?.attempts ?? 0, firstAttempt: e.attempt, lost: 0, waitingFor: 0, record, instance: { name: e.task, index } });
}
