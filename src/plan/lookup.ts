/** Indexed access to a plan, built once per plan and shared by the runtime. */
import type { Plan, PlanState, PlanTask } from "./schema.js";

export interface PlanIndex {
  readonly plan: Plan;
  state(name: string): PlanState;
  task(state: string, task: string): PlanTask;
  /** Every executor key the plan needs, sorted. */
  executors(): string[];
}

export function indexPlan(plan: Plan): PlanIndex {
  const states = new Map<string, PlanState>();
  const tasks = new Map<string, PlanTask>();
  for (const s of plan.states) {
    states.set(s.name, s);
    for (const t of s.tasks) tasks.set(`${s.name}/${t.name}`, t);
  }
  return {
    plan,
    state(name) {
      const s = states.get(name);
      if (!s) throw new Error(`plan "${plan.workflow}" has no state "${name}"`);
      return s;
    },
    task(state, task) {
      const t = tasks.get(`${state}/${task}`);
      if (!t) throw new Error(`plan "${plan.workflow}" has no task "${state}/${task}"`);
      return t;
    },
    // Wait nodes are never dispatched: no worker needs to serve them.
    executors: () => [...new Set(plan.states.flatMap((s) => s.tasks.filter((t) => !t.wait).map((t) => t.executor)))].sort(),
  };
}
