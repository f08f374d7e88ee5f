/**
 * Embedded bench: the engine with its in-process worker and memory transport
 * (`createEngine({ registry, concurrency })`), on three shapes of no-op work —
 *   wide:  one phase of 10,000 tasks, reported as tasks/s (goal: >= 0.05 of the baseline);
 *   chain: 200 phases of one task each, reported as ms per phase (no goal against this
 *          baseline; bench/run.ts compares it with the NATS bench's raw JetStream round
 *          trip per step when both ran: goal <= 0.05 of it);
 *   map:   one map node over 10,000 items, reported as tasks/s against the wide phase of
 *          the same size in the same run (goal: >= 1/1.5 of it) —
 * against a baseline measured in the same run: plain Promise dispatch of the same
 * no-op executor with the same concurrency (a semaphore-limited dispatch loop for
 * wide, a sequential await chain for chain). The ratio is what compiling once,
 * the run machine, events, the run record and the memory transport cost on top of
 * calling the executor.
 *
 * Each figure is the median of several runs after warm-up runs. The workflow is
 * built once per case, so the engine compiles it during the warm-up only (compile
 * time has its own bench). A baseline run is so short that one sample repeats it
 * until at least `minBaselineMs` passed and divides.
 *
 * Run: `npx tsx bench/embedded.ts`. `bench/run.ts` calls `runEmbeddedBench()`.
 */
import { pathToFileURL } from "node:url";
import type { Workflow } from "../src/dsl/workflow.js";
import { createEngine } from "../src/embedded/engine.js";
import { noop, registry } from "./fixtures/noop-executors.js";
import { compare, perSecond, printComparisons, type Comparison } from "./lib/compare.js";
import { chainWorkflow, mapWorkflow, wideWorkflow } from "./lib/workflows.js";

export interface EmbeddedBenchOptions {
  /** Tasks in the wide phase. Default 10,000. */
  wideTasks?: number;
  /** Phases in the chain. Default 200. */
  chainPhases?: number;
  /** Attempts at once, engine and baseline alike. Default 256 (as the NATS bench: 2 workers x 128). */
  concurrency?: number;
  /** Timed runs per subject. Default 5. */
  runs?: number;
  /** Untimed runs first. Default 1. */
  warmup?: number;
  /** A baseline sample repeats its run until this many ms passed. Default 20. */
  minBaselineMs?: number;
}

type Executor = (input: unknown) => unknown;

/** Baseline, wide: a dispatch loop that starts each call once one of `concurrency` slots is free. */
export async function promiseWide(tasks: number, concurrency: number, executor: Executor): Promise<void> {
  let free = concurrency;
  const waiting: (() => void)[] = [];
  const acquire = (): Promise<void> | undefined => {
    if (free > 0) {
      free--;
      return undefined;
    }
    return new Promise<void>((resolve) => waiting.push(resolve));
  };
  const release = (): void => {
    const next = waiting.shift();
    if (next) next();
    else free++;
  };
  const running: Promise<unknown>[] = [];
  for (let i = 0; i < tasks; i++) {
    const wait = acquire();
    if (wait) await wait;
    running.push((async () => executor({}))().finally(release));
  }
  await Promise.all(running);
}

/** Baseline, chain: each call awaits the previous one and gets its output. */
export async function promiseChain(phases: number, executor: Executor): Promise<void> {
  let value: unknown = {};
  for (let i = 0; i < phases; i++) value = await (async () => executor(value))();
}

/** ms per run of `fn`, repeating it until `minMs` passed. */
async function msPerRepetition(fn: () => Promise<void>, minMs: number): Promise<number> {
  let reps = 0;
  const t0 = performance.now();
  let elapsed = 0;
  do {
    await fn();
    reps++;
    elapsed = performance.now() - t0;
  } while (elapsed < minMs);
  return elapsed / reps;
}

/** Run `fn` warmup + runs times; returns the ms of the timed runs. */
async function sample(fn: () => Promise<number>, runs: number, warmup: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < warmup + runs; i++) {
    const ms = await fn();
    if (i >= warmup) out.push(ms);
  }
  return out;
}

/** ms for the engine to run `wf` to its end, on an engine made for the case (so the warm-up compiles). */
async function engineSamples(wf: Workflow<unknown>, concurrency: number, runs: number, warmup: number): Promise<number[]> {
  const engine = createEngine({ registry, concurrency });
  try {
    return await sample(
      async () => {
        const t0 = performance.now();
        const record = await (await engine.run(wf, {})).result();
        const ms = performance.now() - t0;
        if (record.status !== "succeeded") throw new Error(`bench run of "${wf.name}" ended ${record.status}: ${JSON.stringify(record.error)}`);
        return ms;
      },
      runs,
      warmup,
    );
  } finally {
    await engine.close();
  }
}

/**
 * Run the embedded bench.
 * @example printComparisons("embedded", await runEmbeddedBench({ runs: 3 }));
 */
export async function runEmbeddedBench(options: EmbeddedBenchOptions = {}): Promise<Comparison[]> {
  const wideTasks = options.wideTasks ?? 10_000;
  const chainPhases = options.chainPhases ?? 200;
  const concurrency = options.concurrency ?? 256;
  const runs = options.runs ?? 5;
  const warmup = options.warmup ?? 1;
  const minBaselineMs = options.minBaselineMs ?? 20;
  const notes = [
    `embedded: engine and baseline both run ${concurrency} executor calls at once; medians of ${runs} runs after ${warmup} warm-up run(s); the engine compiled each workflow in its warm-up`,
  ];

  const wide = wideWorkflow(wideTasks);
  const wideEngine = await engineSamples(wide, concurrency, runs, warmup);
  const wideBase = await sample(() => msPerRepetition(() => promiseWide(wideTasks, concurrency, noop), minBaselineMs), runs, warmup);

  const mapEngine = await engineSamples(mapWorkflow(wideTasks), concurrency, runs, warmup);

  const chain = chainWorkflow(chainPhases);
  const chainEngine = await engineSamples(chain, concurrency, runs, warmup);

  // The same shapes with a task concurrency and rate limit that never bind (README "Traffic control"): goal at most 10% slower.
  const wideLimited = await engineSamples(wideWorkflow(wideTasks, true), concurrency, runs, warmup);
  const chainLimited = await engineSamples(chainWorkflow(chainPhases, true), concurrency, runs, warmup);
  const chainBase = await sample(() => msPerRepetition(() => promiseChain(chainPhases, noop), minBaselineMs), runs, warmup);

  return [
    compare({
      bench: "embedded",
      case: `wide: ${wideTasks.toLocaleString("en-US")} no-op tasks in one phase`,
      unit: "tasks/s",
      better: "higher",
      baselineLabel: `semaphore-limited Promise dispatch loop (${concurrency} at once) calling the same no-op`,
      samples: { phaseflow: wideEngine.map((ms) => perSecond(wideTasks, ms)), baseline: wideBase.map((ms) => perSecond(wideTasks, ms)) },
      goal: { op: ">=", value: 0.05 },
      notes,
    }),
    compare({
      bench: "embedded",
      case: `map: ${wideTasks.toLocaleString("en-US")} items of one map node`,
      unit: "tasks/s",
      better: "higher",
      baselineLabel: `the wide phase above (${wideTasks.toLocaleString("en-US")} tasks), same engine settings`,
      samples: { phaseflow: mapEngine.map((ms) => perSecond(wideTasks, ms)), baseline: wideEngine.map((ms) => perSecond(wideTasks, ms)) },
      goal: { op: ">=", value: 0.667 },
      notes,
    }),
    compare({
      bench: "embedded",
      case: `chain: ${chainPhases} phases of one no-op task`,
      unit: "ms/phase",
      better: "lower",
      baselineLabel: "sequential await chain calling the same no-op",
      samples: { phaseflow: chainEngine.map((ms) => ms / chainPhases), baseline: chainBase.map((ms) => ms / chainPhases) },
      notes,
    }),
    compare({
      bench: "embedded",
      case: `wide with limits that never bind: ${wideTasks.toLocaleString("en-US")} tasks, each with concurrency and rateLimit`,
      unit: "tasks/s",
      better: "higher",
      baselineLabel: "the wide phase above without limits, same engine settings",
      samples: { phaseflow: wideLimited.map((ms) => perSecond(wideTasks, ms)), baseline: wideEngine.map((ms) => perSecond(wideTasks, ms)) },
      goal: { op: ">=", value: 1 / 1.1 },
      notes,
    }),
    compare({
      bench: "embedded",
      case: `chain with limits that never bind: ${chainPhases} phases, each task with concurrency and rateLimit`,
      unit: "ms/phase",
      better: "lower",
      baselineLabel: "the chain above without limits, same engine settings",
      samples: { phaseflow: chainLimited.map((ms) => ms / chainPhases), baseline: chainEngine.map((ms) => ms / chainPhases) },
      goal: { op: "<=", value: 1.1 },
      notes,
    }),
  ];
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  printComparisons("embedded engine (medians)", await runEmbeddedBench());
}
