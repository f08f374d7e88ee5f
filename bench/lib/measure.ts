/**
 * Timing helpers shared by the benches: run a function several times and keep every
 * sample, so a bench reports medians (and can show spread) rather than one lucky run.
 */
import { median } from "./stats.js";

export interface MeasureOptions {
  /** Timed runs. Default 5. */
  runs?: number;
  /** Untimed runs first, to let the JIT settle. Default 1. */
  warmup?: number;
  /** Called before each run (untimed), e.g. to reset state or call `gc()`. Default: none. */
  before?: () => void | Promise<void>;
}

export interface Measurement {
  name: string;
  /** Wall time of each timed run, in ms. */
  samples: number[];
  /** Median of `samples`, in ms. */
  median: number;
}

/**
 * Time `fn` over several runs.
 * @example
 * const m = await measure("compile 10k", () => compile(wf), { runs: 10 });
 * console.log(m.median);
 */
export async function measure(name: string, fn: () => unknown, options: MeasureOptions = {}): Promise<Measurement> {
  const runs = options.runs ?? 5;
  const warmup = options.warmup ?? 1;
  const samples: number[] = [];
  for (let i = 0; i < warmup + runs; i++) {
    await options.before?.();
    const t0 = performance.now();
    await fn();
    const ms = performance.now() - t0;
    if (i >= warmup) samples.push(ms);
  }
  return { name, samples, median: median(samples) };
}

/**
 * Time one synchronous call and return its result with the elapsed ms.
 * @example const { value: plan, ms } = timeOnce(() => compile(wf));
 */
export function timeOnce<T>(fn: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = fn();
  return { value, ms: performance.now() - t0 };
}

/** Runs the garbage collector when node was started with `--expose-gc`; otherwise does nothing. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
