/**
 * The two workflow shapes the runtime benches run, built in code with the DSL:
 * - wide: one state, one phase of `tasks` independent no-op tasks (dispatch throughput);
 * - chain: one state, `phases` no-op tasks in a line, t0.then(t1).then(t2)... (per-phase latency).
 * Every task runs `bench/noop` (bench/fixtures/noop-executors.ts).
 */
import { workflow, type Task, type Workflow } from "../../src/dsl/workflow.js";

export const NOOP_EXECUTOR = "bench/noop" as const;

/**
 * One state holding `tasks` independent no-op tasks: a single phase.
 * @example const wf = wideWorkflow(10_000); // name "bench-wide-10000"
 */
export function wideWorkflow(tasks: number): Workflow<unknown> {
  const wf = workflow(`bench-wide-${tasks}`, { version: "1" });
  const s = wf.state("wide");
  for (let i = 0; i < tasks; i++) s.task(`t${i}`, { executor: NOOP_EXECUTOR });
  return wf;
}

/**
 * One state holding `phases` no-op tasks chained one after the other: `phases` phases of one task.
 * @example const wf = chainWorkflow(200); // name "bench-chain-200"
 */
export function chainWorkflow(phases: number): Workflow<unknown> {
  const wf = workflow(`bench-chain-${phases}`, { version: "1" });
  const s = wf.state("chain");
  let prev: Task<"chain"> | undefined;
  for (let i = 0; i < phases; i++) {
    const t = s.task(`t${i}`, { executor: NOOP_EXECUTOR });
    prev?.then(t);
    prev = t;
  }
  return wf;
}
