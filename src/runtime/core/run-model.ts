/**
 * What a fold and the decider know of a workflow besides a run's history: the plan
 * (indexed, with each state's data-flow layout and the run machine built from it)
 * and, for a coordinator, the definitions that cannot travel in a plan — zod schemas
 * and `when` guards. Built once per plan and shared by every run of it.
 *
 * Readers that have no workflow module (a CLI follower, a status query) fold with no
 * model at all: they get the same run record, without the scheduling bookkeeping
 * only the decider needs.
 */
import type { Workflow } from "../../dsl/workflow.js";
import { indexPlan, type PlanIndex } from "../../plan/lookup.js";
import type { Plan } from "../../plan/schema.js";
import { layoutOf, type StateLayout } from "./dataflow.js";
import { definitionsOf, type Definitions } from "./definition.js";
import { runMachineOf, type RunMachine } from "./run-machine.js";

export interface RunModel {
  readonly plan: Plan;
  readonly index: PlanIndex;
  readonly machine: RunMachine;
  /** Schemas and guards: present where the workflow module is loaded (coordinators). */
  readonly defs: Definitions | undefined;
  layout(state: string): StateLayout;
}

const models = new WeakMap<Plan, RunModel>();
const withDefs = new WeakMap<Workflow<unknown>, WeakMap<Plan, RunModel>>();

/**
 * The model of a plan, with the workflow's definitions when given.
 * @example const model = runModelOf(compile(etl), etl);
 */
export function runModelOf(plan: Plan, workflow?: Workflow<unknown>): RunModel {
  const cache = workflow ? (withDefs.get(workflow) ?? withDefs.set(workflow, new WeakMap()).get(workflow)!) : models;
  let model = cache.get(plan);
  if (!model) {
    const index = indexPlan(plan);
    model = {
      plan,
      index,
      machine: runMachineOf(plan),
      defs: workflow ? definitionsOf(workflow) : undefined,
      layout: (state) => layoutOf(index.state(state)),
    };
    cache.set(plan, model);
  }
  return model;
}
