/**
 * Executors of the `study-grid` example (examples/study-grid.ts), namespace `study`:
 * a small variance-reduction study. Each run estimates the integral of a function
 * on [0, 1] by Monte Carlo with one of four estimators and a seeded PRNG; the
 * aggregate compares the estimators per sample size (mean, stddev, RMSE).
 *
 *   prepare   -> the integrand and a reference value (composite Simpson, 2 000 intervals)
 *   run       -> one grid cell; the cell is read from the task name
 *                `run-<estimator>-n<samples>-r<replicate>` (the DSL has no per-task
 *                arguments, so the name is the contract between the workflow and
 *                this executor), the seed is derived from the run seed and the name
 *   aggregate -> reads every run's output from `ctx.parents` (sixty parents with the
 *                same keys: their shallow merge alone would keep only one)
 *
 * `expectedStudy` recomputes the final output without the executors.
 */
import { z, NonRetryableError, createRegistry } from "phaseflow";
import { deriveSeed, mulberry32, type Rng } from "./lib/prng.js";

export const INTEGRANDS = {
  exp: (x: number) => Math.exp(x),
  sqrt: (x: number) => Math.sqrt(x),
  sine: (x: number) => Math.sin(Math.PI * x),
} as const;
export type Integrand = keyof typeof INTEGRANDS;
export const ESTIMATORS = ["plain", "antithetic", "stratified", "control"] as const;
export type Estimator = (typeof ESTIMATORS)[number];

export const studyInputSchema = z.object({ seed: z.number().int(), integrand: z.enum(["exp", "sqrt", "sine"]).default("exp") });
export type StudyInput = z.input<typeof studyInputSchema>;
const preparedSchema = z.object({ seed: z.number().int(), integrand: z.enum(["exp", "sqrt", "sine"]), reference: z.number() });
type Prepared = z.infer<typeof preparedSchema>;
const runOutputSchema = preparedSchema.omit({ seed: true }).extend({
  estimator: z.enum(ESTIMATORS),
  samples: z.number().int(),
  replicate: z.number().int(),
  estimate: z.number(),
});
type RunOutput = z.infer<typeof runOutputSchema>;
const cellSchema = z.object({ estimator: z.enum(ESTIMATORS), samples: z.number().int(), runs: z.number().int(), mean: z.number(), stddev: z.number(), rmse: z.number() });
export type Cell = z.infer<typeof cellSchema>;
export const studyOutputSchema = z.object({ integrand: z.string(), reference: z.number(), runs: z.number().int(), cells: z.array(cellSchema), best: z.enum(ESTIMATORS) });
export type StudyOutput = z.infer<typeof studyOutputSchema>;

const CELL_NAME = /^run-([a-z]+)-n(\d+)-r(\d+)$/;

/** `run-plain-n1000-r1` -> its cell. */
export function parseCellName(name: string): { estimator: Estimator; samples: number; replicate: number } {
  const m = CELL_NAME.exec(name);
  const estimator = ESTIMATORS.find((e) => e === m?.[1]);
  if (!m || !estimator) {
    throw new NonRetryableError(`task "${name}" is not a grid cell; name run tasks run-<${ESTIMATORS.join("|")}>-n<samples>-r<replicate>`);
  }
  return { estimator, samples: Number(m[2]), replicate: Number(m[3]) };
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
    "prepare",
    (input: z.infer<typeof studyInputSchema>): Prepared => ({ seed: input.seed, integrand: input.integrand, reference: simpson(INTEGRANDS[input.integrand], 2_000) }),
    { input: studyInputSchema, output: preparedSchema, description: "pick the integrand and compute its reference value" },
  )
  .register(
    "run",
    (input: Prepared, ctx): RunOutput => {
      const cell = parseCellName(ctx.task);
      const rng = mulberry32(deriveSeed(input.seed, ctx.task));
      const value = estimate(cell.estimator, INTEGRANDS[input.integrand], cell.samples, rng);
      return { integrand: input.integrand, reference: input.reference, ...cell, estimate: value };
    },
    { input: preparedSchema, output: runOutputSchema, description: "one Monte Carlo estimate (cell from the task name)" },
  )
  .register(
    "aggregate",
    (input: { integrand: string; reference: number }, ctx): StudyOutput => {
      const runs = Object.values(ctx.parents).map((p) => runOutputSchema.parse(p));
      return { integrand: input.integrand, reference: input.reference, runs: runs.length, ...summarize(runs, input.reference) };
    },
    { output: studyOutputSchema, description: "mean, stddev and RMSE per estimator and sample size" },
  );

/**
 * The study's output for `input` and a grid, computed without the executors.
 * @example expectedStudy({ seed: 7 }, [1000, 4000, 16000], 5).best // e.g. "stratified"
 */
export function expectedStudy(input: StudyInput, sampleSizes: readonly number[], replicates: number): StudyOutput {
  const integrand = input.integrand ?? "exp";
  const f = INTEGRANDS[integrand];
  const reference = simpson(f, 2_000);
  const runs: RunOutput[] = [];
  for (const estimator of ESTIMATORS) {
    for (const samples of sampleSizes) {
      for (let replicate = 1; replicate <= replicates; replicate++) {
        const name = `run-${estimator}-n${samples}-r${replicate}`;
        runs.push({ integrand, reference, estimator, samples, replicate, estimate: estimate(estimator, f, samples, mulberry32(deriveSeed(input.seed, name))) });
      }
    }
  }
  return { integrand, reference, runs: runs.length, ...summarize(runs, reference) };
}
