/**
 * Partial re-run of a failed run: which state visit to go back to and which of its
 * tasks run again, chosen from the folded run state (pure; the decider records the
 * choice as a `run.retried` event and carries on from it).
 *
 * - Without `from`: the visit the run failed in; its tasks that did not succeed
 *   (failed, skipped, cancelled, never dispatched) run again, with every task
 *   downstream of them.
 * - With `from: { state, task }`: the last visit of `state`; `task` and everything
 *   downstream of it run again (and any task of that visit that has no output, which
 *   the state cannot do without). A `from` state before the one that failed means the
 *   states after it run again as the run moves on.
 *
 * Every other task of the visit keeps its recorded output and is not executed again.
 * Without `from`, a map node that was expanded re-runs only its instances that did not
 * succeed (as Airflow's mapped tasks and Step Functions' redrive do): the succeeded ones
 * keep their outputs (`keep`). With `from`, a map re-runs whole (its input may change).
 */
import { UsageError } from "../../errors/base.js";
import type { Plan, PlanState } from "../../plan/schema.js";
import { taskKey, type RunState } from "./run-state.js";

export interface RetryFrom {
  state: string;
  task: string;
}

/** The body of the run.retried event that starts the re-run. */
export interface RetryChoice {
  state: string;
  visit: number;
  /** Task names to run again, in declaration order. */
  tasks: string[];
  reason: string;
  /** Map nodes among `tasks` that keep their succeeded instances. */
  keep?: string[];
}

const list = (names: readonly string[]): string => names.map((n) => `"${n}"`).join(", ");

function lastVisit(st: RunState, state: string): number | undefined {
  let last: number | undefined;
  for (const s of st.record.states) if (s.name === state) last = s.visit;
  return last;
}

/**
 * Choose what a retry re-runs.
 * @throws UsageError when the run did not fail, or `from` names no entered state / no task of it
 * @example
 * const choice = chooseRetry(plan, state, { state: "ingest", task: "load" });
 * // { state: "ingest", visit: 1, tasks: ["load", "report"], reason: 're-run from task "ingest/load"' }
 */
export function chooseRetry(plan: Plan, st: RunState, from?: RetryFrom, reason?: string): RetryChoice {
  const { runId, record } = st;
  if (record.status !== "failed") {
    const status = record.status === "pending" ? "not started" : record.status;
    throw new UsageError(`run "${runId}" is ${status}; only a failed run can be retried (resume an unfinished run instead, or start a new one)`);
  }
  if (from) {
    const entered = plan.states.filter((s) => lastVisit(st, s.name) !== undefined).map((s) => s.name);
    const state = plan.states.find((s) => s.name === from.state);
    const visit = lastVisit(st, from.state);
    if (!state || visit === undefined) {
      throw new UsageError(`cannot retry run "${runId}" from state "${from.state}": the run never entered it; choose one of ${list(entered)}`);
    }
    if (!state.tasks.some((t) => t.name === from.task)) {
      throw new UsageError(`cannot retry run "${runId}" from task "${from.task}": state "${from.state}" has no such task; choose one of ${list(state.tasks.map((t) => t.name))}`);
    }
    return { state: state.name, visit, tasks: rerunOf(state, st, visit, [from.task]), reason: reason ?? `re-run from task "${from.state}/${from.task}"` };
  }
  const states = record.states;
  const where = states[states.length - 1];
  if (!where || where.status !== "failed") {
    const after = where ? ` after state "${where.name}" (visit ${where.visit}) had finished` : " before it entered a state";
    throw new UsageError(`run "${runId}" failed${after}, not in a task; retry it with from: { state, task } to choose the task to re-run from`);
  }
  const state = plan.states.find((s) => s.name === where.name);
  if (!state) throw new UsageError(`run "${runId}" failed in state "${where.name}", which the given workflow does not have; retry it with the workflow it ran with`);
  const tasks = rerunOf(state, st, where.visit, []);
  const keep = tasks.filter((name) => st.maps.has(taskKey(state.name, where.visit, name)));
  return { state: state.name, visit: where.visit, tasks, reason: reason ?? `re-run of the tasks of state "${state.name}" that did not succeed`, ...(keep.length > 0 ? { keep } : {}) };
}

/** `seeds`, every task of the visit without a recorded success, and all their descendants. */
function rerunOf(state: PlanState, st: RunState, visit: number, seeds: readonly string[]): string[] {
  const byName = new Map(state.tasks.map((t) => [t.name, t]));
  const chosen = new Set<string>();
  const stack = [...seeds, ...state.tasks.filter((t) => st.tasks.get(taskKey(state.name, visit, t.name))?.status !== "succeeded").map((t) => t.name)];
  while (stack.length > 0) {
    const task = stack.pop()!;
    if (chosen.has(task)) continue;
    chosen.add(task);
    stack.push(...(byName.get(task)?.children ?? []));
  }
  return state.tasks.filter((t) => chosen.has(t.name)).map((t) => t.name);
}
