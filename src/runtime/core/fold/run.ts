/**
 * The fold of a run's and its states' lifecycle: started, claimed, ended (succeeded,
 * failed, cancelled), retried, upgraded (upgrade.ts), and each state visit entered and exited. These move the
 * run machine (run-machine.ts) and open or close the decider's view of a visit (visit.ts).
 */
import type { RunEventOf } from "../../../transport/messages.js";
import { initialRunSnapshot, stepRunMachine } from "../run-machine.js";
import { foldUpgrade } from "./upgrade.js";
import type { StateRecord } from "../run-record-schema.js";
import { stateKey, taskKey, type RunState } from "./state.js";
import { resetForRerun } from "./tasks.js";
import { openVisit } from "./visit.js";

/** The events folded here. */
export type LifecycleEvent = RunEventOf<"run.started" | "run.claimed" | "run.succeeded" | "run.failed" | "run.cancelled" | "run.retried" | "run.upgraded" | "state.entered" | "state.exited">;

export function foldLifecycleEvent(st: RunState, e: LifecycleEvent): void {
  const r = st.record;
  switch (e.type) {
    case "run.started":
      if (st.models && st.model?.plan.planHash !== e.planHash) {
        // An upgraded run folded with its current plan's model: until its upgrade, the plan it started on.
        st.model = st.models(e.planHash);
        st.machine = st.model ? initialRunSnapshot(st.model.machine) : undefined;
      }
      r.workflow = e.workflow;
      r.version = e.version;
      r.planHash = e.planHash;
      r.options = { schedule: e.options.schedule, onFailure: e.options.onFailure, ...(e.options.priority !== undefined ? { priority: e.options.priority } : {}) };
      r.input = e.input;
      r.startedAt = e.at;
      r.status = "running";
      if (e.seed !== undefined) r.seed = e.seed;
      if (e.parent !== undefined) r.parent = e.parent;
      break;
    case "run.claimed":
      st.owner = e.owner;
      st.epoch = e.epoch;
      break;
    case "run.succeeded":
      r.output = e.output;
      endRun(st, "succeeded", e.at);
      break;
    case "run.failed":
      r.error = e.error;
      endRun(st, "failed", e.at);
      break;
    case "run.cancelled":
      r.reason = e.reason;
      endRun(st, "cancelled", e.at);
      break;
    case "run.retried":
      reopen(st, e);
      break;
    case "run.upgraded":
      foldUpgrade(st, e);
      break;
    case "state.entered": {
      const s: StateRecord = { name: e.state, visit: e.visit, status: "running", enteredAt: e.at, input: e.input };
      st.states.set(stateKey(e.state, e.visit), s);
      r.states.push(s);
      r.currentState = e.state;
      st.entries[e.state] = (st.entries[e.state] ?? 0) + 1;
      if (st.model && st.machine) st.machine = stepRunMachine(st.model.machine, st.machine, { type: "enter", state: e.state });
      st.visit = openVisit(st, e.state, e.visit, e.input);
      break;
    }
    case "state.exited": {
      const s = st.states.get(stateKey(e.state, e.visit));
      if (s) {
        s.status = "succeeded";
        s.exitedAt = e.at;
        s.output = e.output;
        s.next = e.next;
      }
      if (st.visit?.state === e.state && st.visit.visit === e.visit) st.visit = undefined;
      break;
    }
  }
}

/** The run ends: its running state with it, and no attempt of it counts any more. */
function endRun(st: RunState, status: "succeeded" | "failed" | "cancelled", at: number): void {
  const r = st.record;
  r.status = status;
  r.finishedAt = at;
  for (let i = r.states.length - 1; i >= 0; i--) {
    const s = r.states[i]!;
    if (s.status !== "running") continue;
    s.status = status;
    s.exitedAt = at;
    break;
  }
  if (st.model && st.machine) st.machine = stepRunMachine(st.model.machine, st.machine, { type: "finish", status });
  st.visit = undefined;
  st.attempts.clear();
  st.verdicts.clear();
}

/** A run goes again from a state visit (run.retried): the visit and the tasks it re-runs are open again. */
function reopen(st: RunState, e: RunEventOf<"run.retried">): void {
  const r = st.record;
  r.status = "running";
  delete r.error;
  delete r.output;
  delete r.reason;
  delete r.finishedAt;
  r.currentState = e.state;
  st.round++;
  const s = st.states.get(stateKey(e.state, e.visit));
  if (s) {
    s.status = "running";
    delete s.exitedAt;
    delete s.output;
    delete s.next;
  }
  // What counts against maxVisits goes back to how things stood when that visit was entered.
  st.entries = {};
  for (const rec of r.states) {
    st.entries[rec.name] = (st.entries[rec.name] ?? 0) + 1;
    if (rec.name === e.state && rec.visit === e.visit) break;
  }
  const rerun = new Set(e.tasks);
  st.keepMaps = new Set((e.keep ?? []).map((name) => taskKey(e.state, e.visit, name)));
  for (const name of e.tasks) {
    const t = st.tasks.get(taskKey(e.state, e.visit, name));
    if (t) resetForRerun(t);
  }
  if (st.model && st.machine) st.machine = stepRunMachine(st.model.machine, st.machine, { type: "reopen", state: e.state });
  st.visit = openVisit(st, e.state, e.visit, s?.input, rerun);
}
