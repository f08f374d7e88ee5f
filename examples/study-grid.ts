/**
 * An experiment grid: which Monte Carlo estimator gets closest to an integral for
 * a given budget? 4 estimators x 3 sample sizes x 5 replicates = 60 independent
 * runs, then one aggregate.
 *
 *   setup:  prepare                            (1 phase)
 *   grid:   [60 x run-<estimator>-n<samples>-r<replicate>] -> aggregate   (2 phases)
 *
 * Why `prepare` has its own state: every task of `grid` is then a root, so each run
 * receives the prepared study (integrand, reference value, seed) as its input and
 * the grid is exactly [60 runs], [aggregate]. In one state, `prepare` would add a
 * phase and have 60 children, which reads worse and gains nothing.
 *
 * The run tasks are generated in code. The DSL has no per-task arguments, so each
 * task's name carries its cell and the executor parses it; every run derives its own
 * seed from the run's input seed and its name, so replicates differ and any single
 * task can be retried with identical results.
 *
 * Executors: workers/study.ts (namespace "study").
 *   phaseflow run examples/study-grid.ts --executors workers/study.ts --input '{"seed":7,"integrand":"exp"}'
 */
import { z, workflow } from "phaseflow";

export const ESTIMATORS = ["plain", "antithetic", "stratified", "control"] as const;
export const SAMPLE_SIZES = [1_000, 4_000, 16_000] as const;
export const REPLICATES = 5;

/** The task name of one grid cell; workers/study.ts parses the same format. */
export const cellName = (estimator: string, samples: number, replicate: number): string => `run-${estimator}-n${samples}-r${replicate}`;

export const studyGrid = workflow("study-grid", {
  version: "1",
  input: z.object({ seed: z.number().int(), integrand: z.enum(["exp", "sqrt", "sine"]).default("exp") }),
  description: "variance-reduction study: 4 estimators x 3 sample sizes x 5 replicates",
});

const setup = studyGrid.state("setup", { description: "pick the integrand and its reference value" });
setup.task("prepare", { executor: "study/prepare" });

const grid = studyGrid.state("grid", { description: "run every cell, then compare the estimators" });
const aggregate = grid.task("aggregate", { executor: "study/aggregate", timeoutMs: 30_000 });
for (const estimator of ESTIMATORS) {
  for (const samples of SAMPLE_SIZES) {
    for (let replicate = 1; replicate <= REPLICATES; replicate++) {
      aggregate.dependsOn(grid.task(cellName(estimator, samples, replicate), { executor: "study/run", retries: 1, timeoutMs: 60_000 }));
    }
  }
}

setup.transition(grid);
