/**
 * The two workflow shapes the runtime benches run, built in code with the DSL:
 * - wide: one state, one phase of `tasks` independent no-op tasks (dispatch throughput);
 * - chain: one state, `phases` no-op tasks in a line, t0.then(t1).then(t2)... (per-phase latency);
 * - map: one state, one map node over `items` items (fan-out at run time, next to wide).
 * Every task runs `bench/noop` (bench/fixtures/noop-executors.ts).
 */
import { workflow, type Task, type Workflow } from "../../src/dsl/workflow.js";

export const NOOP_EXECUTOR = "bench/noop" as const;

/**
 * One state holding `tasks` independent no-op tasks: a single phase.
 * @example const wf = wideWorkflow(10_000); // name "bench-wide-10000"
 */
export function wideWorkflow(tasks: number, limited = false): Workflow<unknown> {
  const wf = workflow(`bench-wide-${tasks}${limited ? "-limited" : ""}`, { version: "1" });
  const s = wf.state("wide");
  for (let i = 0; i < tasks; i++) s.task(`t${i}`, { executor: NOOP_EXECUTOR, ...(limited ? NEVER_BINDS : {}) });
  return wf;
}

/** A task concurrency limit (keyed) and a rate limit that no bench run ever reaches: what limits cost when they do not bind. */
export const NEVER_BINDS = {
  concurrency: { limit: 1_000_000, key: () => "bench" },
  rateLimit: { limit: 1_000_000, periodMs: 1000 },
} as const;

/**
 * One state holding `phases` no-op tasks chained one after the other: `phases` phases of one task.
 * @example const wf = chainWorkflow(200); // name "bench-chain-200"
 */
export function chainWorkflow(phases: number, limited = false): Workflow<unknown> {
  const wf = workflow(`bench-chain-${phases}${limited ? "-limited" : ""}`, { version: "1" });
  const s = wf.state("chain");
  let prev: Task<"chain"> | undefined;
  for (let i = 0; i < phases; i++) {
    const t = s.task(`t${i}`, { executor: NOOP_EXECUTOR, ...(limited ? NEVER_BINDS : {}) });
    prev?.then(t);
    prev = t;
  }
  return wf;
}

/**
 * One state holding one map node over `items` items, run by the same no-op executor:
 * the same work as `wideWorkflow(items)`, fanned out at run time. `maxConcurrency` is set
 * above any worker pool the benches use (2 x 128 slots), so the cap is not what is measured.
 * @example const wf = mapWorkflow(10_000); // name "bench-map-10000"
 */
export function mapWorkflow(items: number, maxConcurrency = 1_000): Workflow<unknown> {
  const wf = workflow(`bench-map-${items}`, { version: "1" });
  wf.state("map").map("each", { executor: NOOP_EXECUTOR, items: () => Array.from({ length: items }, (_, i) => i), maxConcurrency });
  return wf;
}
