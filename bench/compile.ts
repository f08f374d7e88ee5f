/**
 * Compile bench: how long `compile()` takes, and how much memory it needs, for one
 * state holding a large random DAG — against a baseline measured in the same run:
 * a plain typed-array Kahn layering (Int32Array CSR adjacency + in-degree array) of
 * the same graph, i.e. the least any layering can cost. The ratio shows what the
 * compiler's validation, plan objects and hashing cost on top.
 *
 * Input is generated from a seeded PRNG, so every run sees the same graphs: edges
 * join two distinct random tasks, from the lower index to the higher (a DAG).
 * Times: median of several warm runs in this process. Memory: median over fresh
 * child processes, one per sample (peak RSS only grows within a process).
 *
 * Run: `npx tsx bench/compile.ts`. `bench/run.ts` calls `runCompileBench()`.
 */
import { pathToFileURL } from "node:url";
import { compile } from "../src/compiler/compile.js";
import { workflow, type Workflow } from "../src/dsl/workflow.js";
import { measure, collectGarbage } from "./lib/measure.js";
import { measureInChild, printChildResult, runChild, type MemorySample } from "./lib/memory.js";
import { createPrng, randomInt } from "./lib/prng.js";
import { median } from "./lib/stats.js";
import { printResults, type BenchResult } from "./lib/table.js";

export interface CompileBenchSize {
  tasks: number;
  edges: number;
  /** Warm timed runs in process. */
  runs: number;
}

export interface CompileBenchOptions {
  /** Graph sizes. Default: 10,000 tasks / 30,000 edges (10 runs) and 100,000 / 300,000 (5 runs). */
  sizes?: CompileBenchSize[];
  /** Child processes per subject for the memory figures. Default 3. */
  memoryRuns?: number;
  /** PRNG seed. Default 42. */
  seed?: number;
}

export interface GeneratedDag {
  tasks: number;
  from: Int32Array;
  to: Int32Array;
}

/** `edges` random edges between distinct tasks, each from the lower index to the higher. */
export function generateDag(tasks: number, edges: number, seed: number): GeneratedDag {
  const rnd = createPrng(seed);
  const from = new Int32Array(edges);
  const to = new Int32Array(edges);
  for (let k = 0; k < edges; k++) {
    let a = randomInt(rnd, tasks);
    let b = randomInt(rnd, tasks);
    while (a === b) b = randomInt(rnd, tasks);
    if (a > b) [a, b] = [b, a];
    from[k] = a;
    to[k] = b;
  }
  return { tasks, from, to };
}

/** The same graph as a phaseflow workflow with one state. */
export function dagWorkflow(dag: GeneratedDag): Workflow<unknown> {
  const wf = workflow("bench", { version: "1" });
  const s = wf.state("s");
  const tasks = Array.from({ length: dag.tasks }, (_, i) => s.task(`t${i}`, { executor: "bench/noop" }));
  for (let k = 0; k < dag.from.length; k++) tasks[dag.to[k]!]!.dependsOn(tasks[dag.from[k]!]!);
  return wf;
}

/** Baseline: CSR adjacency in Int32Arrays, in-degrees, Kahn's algorithm with generations. */
export function kahnLayers(dag: GeneratedDag): { phase: Int32Array; depth: number } {
  const n = dag.tasks;
  const m = dag.from.length;
  const start = new Int32Array(n + 1);
  const indegree = new Int32Array(n);
  for (let k = 0; k < m; k++) {
    start[dag.from[k]! + 1]!++;
    indegree[dag.to[k]!]!++;
  }
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, n);
  const adj = new Int32Array(m);
  for (let k = 0; k < m; k++) adj[fill[dag.from[k]!]!++] = dag.to[k]!;
  const phase = new Int32Array(n);
  const queue = new Int32Array(n);
  let tail = 0;
  for (let i = 0; i < n; i++) if (indegree[i] === 0) queue[tail++] = i;
  let depth = n > 0 ? 1 : 0;
  for (let head = 0; head < tail; head++) {
    const p = queue[head]!;
    const next = phase[p]! + 1;
    for (let k = start[p]!; k < start[p + 1]!; k++) {
      const c = adj[k]!;
      if (phase[c]! < next) phase[c] = next;
      indegree[c] = indegree[c]! - 1;
      if (indegree[c] === 0) {
        queue[tail++] = c;
        if (phase[c]! + 1 > depth) depth = phase[c]! + 1;
      }
    }
  }
  if (tail !== n) throw new Error("generated graph is not a DAG");
  return { phase, depth };
}

type Subject = "compile" | "baseline";
const SUBJECTS: Record<Subject, string> = { compile: "phaseflow compile()", baseline: "typed-array Kahn (baseline)" };

/** Child mode: build the input, then measure one call of the subject. */
function childMain(subject: Subject, tasks: number, edges: number, seed: number): void {
  const dag = generateDag(tasks, edges, seed);
  if (subject === "compile") {
    const wf = dagWorkflow(dag);
    printChildResult(measureInChild(() => compile(wf)));
  } else {
    printChildResult(measureInChild(() => kahnLayers(dag)));
  }
}

/** a / b, or NaN (shown as "-") when b is under 1 (ms or MB): too small for the ratio to mean anything. */
function ratio(a: number, b: number): number {
  return b >= 1 ? a / b : Number.NaN;
}

const FIGURES = ["time ms", "cold ms", "peak RSS MB", "added RSS MB", "retained MB"] as const;

/**
 * Run the compile bench and return one result per (size, subject), plus a ratio row per size.
 * @example printResults(await runCompileBench({ memoryRuns: 1 }));
 */
export async function runCompileBench(options: CompileBenchOptions = {}): Promise<BenchResult[]> {
  const sizes = options.sizes ?? [
    { tasks: 10_000, edges: 30_000, runs: 10 },
    { tasks: 100_000, edges: 300_000, runs: 5 },
  ];
  const memoryRuns = options.memoryRuns ?? 3;
  const seed = options.seed ?? 42;
  const results: BenchResult[] = [];
  for (const size of sizes) {
    const label = `${size.tasks.toLocaleString("en-US")} tasks / ${size.edges.toLocaleString("en-US")} edges`;
    const dag = generateDag(size.tasks, size.edges, seed);
    const wf = dagWorkflow(dag);
    const phases = compile(wf).states[0]!.phases.length;
    const { depth } = kahnLayers(dag);
    if (phases !== depth) throw new Error(`compile found ${phases} phases but the baseline ${depth}; they must agree`);

    const timings: Record<Subject, number[]> = {
      compile: (await measure("compile", () => compile(wf), { runs: size.runs, before: collectGarbage })).samples,
      baseline: (await measure("baseline", () => kahnLayers(dag), { runs: size.runs, before: collectGarbage })).samples,
    };
    const rows: Partial<Record<Subject, BenchResult>> = {};
    for (const subject of ["compile", "baseline"] as const) {
      const mem: MemorySample[] = [];
      for (let r = 0; r < memoryRuns; r++) {
        mem.push(await runChild<MemorySample>(import.meta.url, ["--child", subject, String(size.tasks), String(size.edges), String(seed)]));
      }
      const samples: Record<string, number[]> = {
        "time ms": timings[subject],
        "cold ms": mem.map((m) => m.coldMs),
        "peak RSS MB": mem.map((m) => m.peakRssMB),
        "added RSS MB": mem.map((m) => m.addedRssMB),
        "retained MB": mem.map((m) => m.retainedMB),
      };
      rows[subject] = {
        bench: "compile",
        case: `${label} (${phases} phases)`,
        subject: SUBJECTS[subject],
        figures: Object.fromEntries(FIGURES.map((f) => [f, median(samples[f]!)])),
        samples,
      };
    }
    const c = rows.compile!;
    const b = rows.baseline!;
    results.push(c, b, {
      bench: "compile",
      case: c.case,
      subject: "ratio compile / baseline",
      figures: Object.fromEntries(FIGURES.map((f) => [f, ratio(c.figures[f]!, b.figures[f]!)])),
      samples: {},
      notes: [
        "time ms: median of warm runs in one process; the other figures: median over fresh child processes (one call each)",
        "peak RSS includes node + tsx + the generated input (the compile child also holds the workflow definition)",
        "added RSS: peak RSS minus RSS just before the call; retained: heap + buffers still held by the result after GC",
        'a ratio shows "-" where the baseline figure is under 1 (too small to divide by)',
      ],
    });
  }
  return results;
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const [flag, subject, tasks, edges, seed] = process.argv.slice(2);
  if (flag === "--child") {
    childMain(subject as Subject, Number(tasks), Number(edges), Number(seed));
  } else {
    printResults(await runCompileBench(), "compile bench (medians)");
  }
}
