/**
 * The fold of `run.upgraded` (README "Deploying new versions"; the check and the decision are in
 * ../upgrade.ts): the run is on another plan from here on. The record names it, and a
 * fold with models rebuilds the run machine and the visit under way on the new plan's
 * layout from the visit's task records (and the in-flight tasks' retry counts the event
 * carries), as every fold of the history does at this event, live or replayed.
 */
import type { RunEventOf } from "../../../transport/messages.js";
import { parseInstance } from "../map-state.js";
import { PENDING } from "../run-machine.js";
import { isFinished, isOpenStatus, type RunState } from "./state.js";
import { openVisit } from "./visit.js";

export function foldUpgrade(st: RunState, e: RunEventOf<"run.upgraded">): void {
  const r = st.record;
  r.version = e.version;
  r.planHash = e.planHash;
  (r.upgrades ??= []).push({ at: e.at, from: e.from, version: e.version, planHash: e.planHash });
  if (!st.models && !st.model) return;
  const model = st.models ? st.models(e.planHash) : st.model?.plan.planHash === e.planHash ? st.model : undefined;
  st.model = model;
  st.visit = undefined;
  if (!model) {
    st.machine = undefined;
    return;
  }
  const current = isFinished(st) ? undefined : [...r.states].reverse().find((s) => s.status === "running");
  const visits: Record<string, number> = {};
  for (const s of r.states) visits[s.name] = (visits[s.name] ?? 0) + 1;
  st.machine = model.machine.resolveState({ value: current?.name ?? PENDING, context: { visits } });
  if (!current) return;
  // Every task keeps its recorded status: none starts over.
  const v = openVisit(st, current.name, current.visit, current.input, new Set());
  if (!v) return;
  // In-flight map instances are not nodes of the layout: the decider's view of each is rebuilt too.
  for (const t of st.tasks.values()) {
    if (t.state !== v.state || t.visit !== v.visit || !isOpenStatus(t.status)) continue;
    const inst = parseInstance(t.task);
    const node = inst && v.tasks.get(inst.map);
    if (inst && node) v.tasks.set(t.task, { layout: node.layout, status: t.status, attempts: t.attempts, firstAttempt: 1, lost: 0, waitingFor: 0, record: t, instance: { name: t.task, index: inst.index } });
  }
  // A first go unless the event says otherwise (a partial re-run's go, attempts lost).
  for (const vt of v.tasks.values()) {
    if (!isOpenStatus(vt.status) || vt.status === "pending") continue;
    vt.firstAttempt = 1;
    vt.lost = 0;
  }
  for (const c of e.carry ?? []) {
    const vt = v.tasks.get(c.task);
    if (!vt) continue;
    vt.firstAttempt = c.firstAttempt;
    vt.lost = c.lost;
  }
  for (const vt of v.tasks.values()) if (vt.status !== "pending" && vt.status !== "skipped" && vt.instance === undefined && vt.layout.plan.phase > v.phase) v.phase = vt.layout.plan.phase;
  st.visit = v;
}
