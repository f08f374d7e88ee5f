/**
 * An experiment grid: which Monte Carlo estimator gets closest to an integral for
 * a given budget? 4 estimators x 3 sample sizes x 5 replicates = 60 independent
 * runs, then one aggregate.
 *
 *   grid:   plan -> run (map over 60 cells) -> aggregate      (3 phases)
 *
 * `plan` lists the cells from its `params` (the grid's axes); `run` is a map node: one
 * instance per cell, each with the cell as its input and `ctx.seed` for its random
 * numbers, so replicates differ, any instance can be retried with identical results,
 * and a run with the same `--seed` gives the same study, embedded or on a fleet.
 * `aggregate` follows both: its input is plan's output merged with `{ run: [...] }`,
 * the instances' outputs in cell order.
 *
 * Executors: workers/study.ts (namespace "study").
 *   phaseflow run examples/study-grid.ts --executors workers/study.ts --seed 7 --input '{"integrand":"exp"}'
 */
import { z, workflow } from "phaseflow";

export const ESTIMATORS = ["plain", "antithetic", "stratified", "control"] as const;
export const SAMPLE_SIZES = [1_000, 4_000, 16_000] as const;
export const REPLICATES = 5;

/** One grid cell: what one instance of the `run` map computes. */
export interface StudyCell {
  integrand: "exp" | "sqrt" | "sine";
  estimator: (typeof ESTIMATORS)[number];
  samples: number;
  replicate: number;
}

export const studyGrid = workflow("study-grid", {
  version: "2",
  input: z.object({ integrand: z.enum(["exp", "sqrt", "sine"]).default("exp") }),
  description: "variance-reduction study: 4 estimators x 3 sample sizes x 5 replicates",
});

const grid = studyGrid.state("grid", { description: "list the cells, run each one, then compare the estimators" });
const plan = grid.task("plan", {
  executor: "study/plan",
  params: { estimators: [...ESTIMATORS], sampleSizes: [...SAMPLE_SIZES], replicates: REPLICATES },
});
const run = grid.map("run", {
  executor: "study/run",
  items: (planned: { cells: StudyCell[] }) => planned.cells,
  maxConcurrency: 32,
  retries: 1,
  timeoutMs: 60_000,
});
const aggregate = grid.task("aggregate", { executor: "study/aggregate", timeoutMs: 30_000 });
plan.then(run);
aggregate.dependsOn(plan, run);
