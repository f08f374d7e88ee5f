/**
 * The decider's view of the state visit under way, as the fold keeps it: each task's
 * status, open counts per phase, outputs so far and parents still awaited, all O(1) per
 * event. Only a fold with a model (run-model.ts) keeps one; the record is kept apart
 * (the other fold modules) whether or not.
 */
import type { TaskStatus } from "../run-record-schema.js";
import { isOpenStatus, taskKey, type RunState, type Visit, type VisitTask } from "./state.js";

/** The visit's view of the event's task, when the event is of the visit under way. */
export function visitTask(st: RunState, e: { state: string; visit: number; task: string }): VisitTask | undefined {
  const v = st.visit;
  return v && v.state === e.state && v.visit === e.visit ? v.tasks.get(e.task) : undefined;
}

/**
 * The decider's view of a task an attempt of which is now out (dispatched, or parked on a
 * wait): its status, the attempts it has had, and the visit's phase reaching the task's.
 */
export function markVisitTask(st: RunState, e: { state: string; visit: number; task: string; attempt: number }, status: "dispatched" | "running"): void {
  const vt = visitTask(st, e);
  if (!vt) return;
  leavePending(st.visit!, vt);
  vt.status = status;
  vt.attempts = Math.max(vt.attempts, e.attempt);
  if (vt.layout.plan.phase > st.visit!.phase) st.visit!.phase = vt.layout.plan.phase;
}

/** A task of the visit is decided on: it is no longer waiting to be started. */
export function leavePending(v: Visit, vt: VisitTask): void {
  if (vt.status === "pending" && vt.instance === undefined) v.ready.delete(vt.layout.name);
}

/** A visit's scheduling view, from its records (entry: none yet; re-run: the recorded ones). */
export function openVisit(st: RunState, state: string, visit: number, input: unknown, rerun?: ReadonlySet<string>): Visit | undefined {
  const model = st.model;
  if (!model) return undefined;
  const layout = model.layout(state);
  const phases = layout.state.phases.length;
  const v: Visit = { state, visit, input, layout, tasks: new Map(), phase: -1, open: 0, phaseOpen: new Array<number>(phases).fill(0), outputs: new Map(), failures: [], ready: new Set() };
  for (const tl of layout.tasks) {
    const record = st.tasks.get(taskKey(state, visit, tl.name));
    const again = rerun === undefined || rerun.has(tl.name) || record === undefined;
    const attempts = record?.attempts ?? 0;
    const status: TaskStatus = again ? "pending" : record.status;
    v.tasks.set(tl.name, { layout: tl, status, attempts, firstAttempt: attempts + 1, lost: 0, waitingFor: tl.parents.length, record });
    if (isOpenStatus(status)) {
      v.open++;
      v.phaseOpen[tl.plan.phase]!++;
    } else if (status === "succeeded") {
      v.outputs.set(tl.name, record?.output);
    }
  }
  for (const vt of v.tasks.values()) if (vt.status === "succeeded") for (const c of vt.layout.children) v.tasks.get(c)!.waitingFor--;
  for (const vt of v.tasks.values()) if (vt.status === "pending" && vt.waitingFor === 0) v.ready.add(vt.layout.name);
  return v;
}

/**
 * A task of the visit settles: it leaves the open counts, a success makes its children
 * ready once all their parents have, a failure is listed; an instance settles through its
 * map node (maps.ts).
 */
export function settle(st: RunState, e: { state: string; visit: number; task: string }, status: TaskStatus, output?: unknown): void {
  const vt = visitTask(st, e);
  if (!vt) return;
  const v = st.visit!;
  if (vt.instance) {
    // An instance is not a node of the DAG: its map node settles for it (map-state.ts).
    vt.status = status;
    v.tasks.delete(vt.instance.name);
    return;
  }
  if (isOpenStatus(vt.status)) {
    v.open--;
    v.phaseOpen[vt.layout.plan.phase]!--;
  }
  leavePending(v, vt);
  vt.status = status;
  // A skip is decided ahead, for tasks of later phases: it says nothing of how far the visit got.
  if (status !== "skipped" && vt.layout.plan.phase > v.phase) v.phase = vt.layout.plan.phase;
  if (status === "succeeded") {
    v.outputs.set(vt.layout.name, output);
    for (const c of vt.layout.children) {
      const child = v.tasks.get(c)!;
      if (--child.waitingFor === 0 && child.status === "pending") v.ready.add(c);
    }
  } else if (status === "failed") {
    v.failures.push(vt.layout.name);
  }
}
