/**
 * Executors of the `study-grid` example (examples/study-grid.ts), namespace `study`:
 * a small variance-reduction study. Each run estimates the integral of a function
 * on [0, 1] by Monte Carlo with one of four estimators and a seeded PRNG; the
 * aggregate compares the estimators per sample size (mean, stddev, RMSE).
 *
 *   plan      -> the integrand, its reference value (composite Simpson, 2 000
 *                intervals) and the grid's cells, from the task's params
 *   run       -> one grid cell (an instance of the `run` map): the cell is its input,
 *                its random numbers come from `ctx.seed`
 *   aggregate -> plan's output and `{ run: [...] }`, every cell's estimate in cell order
 *
 * `expectedStudy` recomputes the final output without the executors.
 */
import { z, createRegistry, taskSeed, type TaskContext } from "phaseflow";
import { mulberry32, type Rng } from "./lib/prng.js";

export const INTEGRANDS = {
  exp: (x: number) => Math.exp(x),
  sqrt: (x: number) => Math.sqrt(x),
  sine: (x: number) => Math.sin(Math.PI * x),
} as const;
export type Integrand = keyof typeof INTEGRANDS;
export const ESTIMATORS = ["plain", "antithetic", "stratified", "control"] as const;
export type Estimator = (typeof ESTIMATORS)[number];

export const studyInputSchema = z.object({ integrand: z.enum(["exp", "sqrt", "sine"]).default("exp") });
export type StudyInput = z.input<typeof studyInputSchema>;
const integrandSchema = z.enum(["exp", "sqrt", "sine"]);
const cellSchema = z.object({ integrand: integrandSchema, estimator: z.enum(ESTIMATORS), samples: z.number().int().positive(), replicate: z.number().int().positive() });
type StudyCell = z.infer<typeof cellSchema>;
/** The plan task's params: the grid's axes. */
export interface GridParams {
  estimators: Estimator[];
  sampleSizes: number[];
  replicates: number;
}
const plannedSchema = z.object({ integrand: integrandSchema, reference: z.number(), cells: z.array(cellSchema) });
type Planned = z.infer<typeof plannedSchema>;
const runOutputSchema = cellSchema.omit({ integrand: true }).extend({ estimate: z.number() });
type RunOutput = z.infer<typeof runOutputSchema>;
const summarySchema = z.object({ estimator: z.enum(ESTIMATORS), samples: z.number().int(), runs: z.number().int(), mean: z.number(), stddev: z.number(), rmse: z.number() });
export type Cell = z.infer<typeof summarySchema>;
export const studyOutputSchema = z.object({ integrand: z.string(), reference: z.number(), runs: z.number().int(), cells: z.array(summarySchema), best: z.enum(ESTIMATORS) });
export type StudyOutput = z.infer<typeof studyOutputSchema>;

/** The grid's cells in the order the map runs them: estimator, then sample size, then replicate. */
export function cellsOf(integrand: Integrand, params: GridParams): StudyCell[] {
  const cells: StudyCell[] = [];
  for (const estimator of params.estimators) {
    for (const samples of params.sampleSizes) {
      for (let replicate = 1; replicate <= params.replicates; replicate++) cells.push({ integrand, estimator, samples, replicate });
    }
  }
  return cells;
}

/** Composite Simpson's rule on [0, 1]. */
export function simpson(f: (x: number) => number, intervals: number): number {
  const h = 1 / intervals;
  let sum = f(0) + f(1);
  for (let i = 1; i < intervals; i++) sum += (i % 2 === 1 ? 4 : 2) * f(i * h);
  return (sum * h) / 3;
}

/** One Monte Carlo estimate of the integral of `f` on [0, 1] with `n` evaluations of `f`. */
export function estimate(estimator: Estimator, f: (x: number) => number, n: number, rng: Rng): number {
  switch (estimator) {
    case "plain": {
      let s = 0;
      for (let i = 0; i < n; i++) s += f(rng());
      return s / n;
    }
    case "antithetic": {
      const pairs = Math.floor(n / 2);
      let s = 0;
      for (let i = 0; i < pairs; i++) {
        const u = rng();
        s += (f(u) + f(1 - u)) / 2;
      }
      return s / pairs;
    }
    case "stratified": {
      let s = 0;
      for (let i = 0; i < n; i++) s += f((i + rng()) / n);
      return s / n;
    }
    case "control": {
      // Control variate g(x) = x with known mean 1/2; coefficient estimated from the sample.
      let sf = 0, sg = 0, sfg = 0, sgg = 0;
      for (let i = 0; i < n; i++) {
        const u = rng();
        const y = f(u);
        sf += y;
        sg += u;
        sfg += y * u;
        sgg += u * u;
      }
      const fm = sf / n, gm = sg / n;
      const c = (sfg / n - fm * gm) / (sgg / n - gm * gm);
      return fm - c * (gm - 0.5);
    }
  }
}

/** Per estimator and sample size: mean, sample stddev and RMSE against the reference. Runs are sorted first, so the figures do not depend on the order the parents arrive in. */
export function summarize(runs: readonly RunOutput[], reference: number): { cells: Cell[]; best: Estimator } {
  const sorted = [...runs].sort((a, b) => ESTIMATORS.indexOf(a.estimator) - ESTIMATORS.indexOf(b.estimator) || a.samples - b.samples || a.replicate - b.replicate);
  const groups = new Map<string, RunOutput[]>();
  for (const r of sorted) {
    const key = `${r.estimator}/${r.samples}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const cells = [...groups.values()].map((g): Cell => {
    const xs = g.map((r) => r.estimate);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.length > 1 ? xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1) : 0;
    const mse = xs.reduce((a, x) => a + (x - reference) ** 2, 0) / xs.length;
    return { estimator: g[0]!.estimator, samples: g[0]!.samples, runs: xs.length, mean, stddev: Math.sqrt(variance), rmse: Math.sqrt(mse) };
  });
  const largest = Math.max(...cells.map((c) => c.samples));
  const atLargest = cells.filter((c) => c.samples === largest);
  const best = atLargest.reduce((b, c) => (c.rmse < b.rmse ? c : b), atLargest[0]!).estimator;
  return { cells, best };
}

export const registry = createRegistry();

registry
  .namespace("study")
  .register(
    "plan",
    (input: z.infer<typeof studyInputSchema>, ctx: TaskContext<GridParams>): Planned => ({
      integrand: input.integrand,
      reference: simpson(INTEGRANDS[input.integrand], 2_000),
      cells: cellsOf(input.integrand, ctx.params),
    }),
    { input: studyInputSchema, output: plannedSchema, description: "the integrand, its reference value and the grid's cells" },
  )
  .register(
    "run",
    (cell: StudyCell, ctx): RunOutput => {
      const value = estimate(cell.estimator, INTEGRANDS[cell.integrand], cell.samples, mulberry32(ctx.seed));
      return { estimator: cell.estimator, samples: cell.samples, replicate: cell.replicate, estimate: value };
    },
    { input: cellSchema, output: runOutputSchema, description: "one Monte Carlo estimate of one cell, seeded by ctx.seed" },
  )
  .register(
    "aggregate",
    (input: { integrand: string; reference: number; run: unknown[] }): StudyOutput => {
      const runs = input.run.map((r) => runOutputSchema.parse(r));
      return { integrand: input.integrand, reference: input.reference, runs: runs.length, ...summarize(runs, input.reference) };
    },
    { description: "mean, stddev and RMSE per estimator and sample size" },
  );

/**
 * The study's output for `input`, a run seed and a grid, computed without the engine:
 * instance k of the map "grid/run" gets `taskSeed(runSeed, "grid/run", k)`.
 * @example expectedStudy({ integrand: "exp" }, 7, { estimators: [...ESTIMATORS], sampleSizes: [1000], replicates: 5 }).best
 */
export function expectedStudy(input: StudyInput, runSeed: number, params: GridParams): StudyOutput {
  const integrand = input.integrand ?? "exp";
  const f = INTEGRANDS[integrand];
  const reference = simpson(f, 2_000);
  const runs = cellsOf(integrand, params).map((c, k): RunOutput => ({ estimator: c.estimator, samples: c.samples, replicate: c.replicate, estimate: estimate(c.estimator, f, c.samples, mulberry32(taskSeed(runSeed, "grid/run", k))) }));
  return { integrand, reference, runs: runs.length, ...summarize(runs, reference) };
}
