/**
 * Moving a running run onto another version's plan (README "Deploying new versions").
 *
 * `upgradeIssues` is the check: pure, on the run's record alone (so a coordinator, the
 * engine and a dry run all judge alike), it lists every reason the target plan cannot
 * carry on from where the run stands:
 * - the state the run is in must exist there;
 * - every task of the current visit that finished or is under way (map nodes for their
 *   instances) must exist there in that state, as the same kind of node, running the
 *   same executor (an executor that changes incompatibly gets a new key, so a run that
 *   ran the old one cannot be moved);
 * - every signal sent and not consumed yet must still have a signal node of its name.
 * Tasks that have not started yet may change freely, and so may later states.
 *
 * The move itself is one event, `run.upgraded`, decided by `decide` and folded by
 * `evolve` like any other (run-state.ts): from it on, the fold uses the target plan's
 * model, rebuilt from the task records of the visit under way, so a replay after a
 * crash lands where the live run was. `carryOf` is what the event carries so the
 * rebuilt visit keeps each in-flight task's retry count.
 */
import type { UpgradeIssue } from "../../errors/upgrade.js";
import type { Plan, PlanTask } from "../../plan/schema.js";
import { parseInstance } from "./map-state.js";
import type { RunRecord } from "./run-record-schema.js";
import type { Visit } from "./run-state.js";

/** What a node is, for comparing two plans: `task`, `map`, `signal verdict`, `sleep`, `child enrich`, `map of child enrich`. */
export function nodeKindOf(t: PlanTask): string {
  const wait = t.wait === undefined ? "task" : t.wait.kind === "signal" ? `signal ${t.wait.signal}` : t.wait.kind === "child" ? `child ${t.wait.workflow}` : t.wait.kind;
  if (!t.map) return wait;
  return t.wait === undefined ? "map" : `map of ${wait}`;
}

/** Whether the node is run by workers under its executor key (a task, or a map of tasks). */
const runsExecutor = (t: PlanTask): boolean => t.wait === undefined;

const STARTED = new Set(["dispatched", "running", "retrying", "succeeded", "failed"]);

/**
 * Every reason `record` cannot move onto plan `to` (empty: it can). `from`: the plan the
 * run is on, when known, for the executors of nodes that record none (maps, waits).
 * @example upgradeIssues(handle.status(), compile(etlV2), compile(etlV1)) // [{ code: "TASK_MISSING", ... }]
 */
export function upgradeIssues(record: RunRecord, to: Plan, from?: Plan): UpgradeIssue[] {
  const issues: UpgradeIssue[] = [];
  const wf = to.workflow;
  const current = [...record.states].reverse().find((s) => s.status === "running");
  if (current) {
    const state = to.states.find((s) => s.name === current.name);
    if (!state) {
      issues.push({ code: "STATE_MISSING", path: `${wf}/${current.name}`, message: `the run is in state "${current.name}", which ${wf}@${to.version} does not have; upgrade once the run has left it, or keep the state in the new version` });
    } else {
      const seen = new Set<string>();
      const oldState = from?.states.find((s) => s.name === current.name);
      for (const t of record.tasks) {
        if (t.state !== current.name || t.visit !== current.visit || !STARTED.has(t.status)) continue;
        const name = parseInstance(t.task)?.map ?? t.task;
        if (seen.has(name)) continue;
        seen.add(name);
        const path = `${wf}/${current.name}/${name}`;
        const how = t.status === "succeeded" || t.status === "failed" ? `${t.status}` : "under way";
        const target = state.tasks.find((x) => x.name === name);
        if (!target) {
          issues.push({ code: "TASK_MISSING", path, message: `task "${name}" (${how} in the current visit) is not in state "${current.name}" of ${wf}@${to.version}; keep it in the new version, or upgrade after the state is done` });
          continue;
        }
        const old = oldState?.tasks.find((x) => x.name === name);
        if (old && nodeKindOf(old) !== nodeKindOf(target)) {
          issues.push({ code: "NODE_KIND_CHANGED", path, message: `"${name}" (${how}) is a ${nodeKindOf(old)} node in ${wf}@${from!.version} and a ${nodeKindOf(target)} node in ${wf}@${to.version}; give the new node another name` });
          continue;
        }
        const ran = t.executor ?? (old && runsExecutor(old) ? old.executor : undefined);
        if (ran !== undefined && runsExecutor(target) && ran !== target.executor) {
          issues.push({ code: "EXECUTOR_CHANGED", path, message: `task "${name}" (${how}) ran executor "${ran}"; in ${wf}@${to.version} it runs "${target.executor}"; upgrade runs that have not reached it, or keep its executor` });
        }
      }
    }
  }
  const signalNodes = new Set(to.states.flatMap((s) => s.tasks.flatMap((t) => (t.wait?.kind === "signal" ? [t.wait.signal] : []))));
  const pending = new Set((record.signals ?? []).filter((s) => s.consumedBy === undefined).map((s) => s.name));
  for (const name of pending) {
    if (!signalNodes.has(name)) issues.push({ code: "SIGNAL_NODE_MISSING", path: `${wf}/signal:${name}`, message: `signal "${name}" was sent to the run and not consumed yet, and ${wf}@${to.version} has no signal node "${name}" to take it; keep such a node in the new version` });
  }
  return issues;
}

/** Retry bookkeeping of the visit's tasks in flight that a rebuilt visit would not know (run.upgraded `carry`). */
export function carryOf(v: Visit | undefined): { task: string; firstAttempt: number; lost: number }[] {
  const out: { task: string; firstAttempt: number; lost: number }[] = [];
  if (!v) return out;
  for (const [name, vt] of v.tasks) {
    if (vt.status !== "dispatched" && vt.status !== "running" && vt.status !== "retrying") continue;
    if (vt.firstAttempt === 1 && vt.lost === 0) continue;
    out.push({ task: name, firstAttempt: vt.firstAttempt, lost: vt.lost });
  }
  return out;
}

/** What `upgrade` did, or with `dryRun` would do. */
export interface UpgradeReport {
  runId: string;
  workflow: string;
  from: { version: string; planHash: string };
  to: { version: string; planHash: string };
  /** The state the run is in (absent before its first state). */
  state?: string | undefined;
  dryRun: boolean;
  /** The move is stored: the run carries on on the target plan. */
  upgraded: boolean;
  /** Every incompatibility (empty: compatible). */
  issues: UpgradeIssue[];
}

/** The report of an upgrade check of `record` onto `to`. */
export function upgradeReportOf(record: RunRecord, to: Plan, from: Plan | undefined, dryRun: boolean): UpgradeReport {
  const current = [...record.states].reverse().find((s) => s.status === "running");
  return {
    runId: record.runId,
    workflow: record.workflow,
    from: { version: record.version, planHash: record.planHash },
    to: { version: to.version, planHash: to.planHash },
    ...(current ? { state: current.name } : {}),
    dryRun,
    upgraded: false,
    issues: upgradeIssues(record, to, from),
  };
}
