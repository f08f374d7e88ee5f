/**
 * Memory bench: how much the coordinator holds for one run of 100,000 no-op tasks in
 * one phase, against what the run cannot do without — the plan's own JSON size plus
 * the JSON size of the outputs it must keep (goal: at most 2x that).
 *
 * It runs in a child process (`node --import tsx --expose-gc bench/memory.ts --child N`,
 * so `global.gc()` is there and nothing else lives in the heap): an embedded engine,
 * `createEngine({ registry, transport, worker: true, keepHistory: false, concurrency: 256 })`
 * on a memory transport of its own (so the bench can tell the stored history apart).
 * One small warm-up run starts the worker; then, after a GC, heapUsed is read before
 * the run (the workflow definition built, the plan not compiled yet: the engine
 * compiles it in `run()`, so the plan it holds is counted), after a GC every `sampleMs`
 * during the run (or 9x the last GC's duration, if longer; the peak of those samples), and at the end after a GC while the
 * record is still held — with the run's history still stored in the memory
 * transport, after deleting it, and after closing the transport (the engine alone).
 *
 * What the figures include: embedded, the heap also holds the in-process worker
 * (at most `concurrency` attempts) and the memory transport, which plays nats-server:
 * the queued task messages and the stored history (decisions and reports) that a
 * fleet's coordinator would not hold. The peak therefore over-states a fleet
 * coordinator's memory; "end, transport closed" is the engine (coordinator, plan,
 * record, idle worker) alone. The goal is judged on the peak.
 *
 * Run: `npx tsx bench/memory.ts [tasks]`. `bench/run.ts` calls `runMemoryBench()`.
 */
import { pathToFileURL } from "node:url";
import { compile } from "../src/compiler/compile.js";
import { createEngine } from "../src/embedded/engine.js";
import { createMemoryTransport } from "../src/transport/memory/hub.js";
import { registry } from "./fixtures/noop-executors.js";
import { compare, printComparisons, type Comparison } from "./lib/compare.js";
import { runChild } from "./lib/memory.js";
import { wideWorkflow } from "./lib/workflows.js";

const MB = 1024 * 1024;

export interface MemoryBenchOptions {
  /** Tasks in the one phase. Default 100,000. */
  tasks?: number;
  /** Attempts at once (the in-process worker's concurrency). Default 256. */
  concurrency?: number;
  /** ms between GC'd heap samples during the run. Default 250. */
  sampleMs?: number;
  /** Limit of the child process, ms. Default 600000. */
  timeoutMs?: number;
}

/** What the child reports; sizes in bytes (JSON sizes in characters: the plan and outputs are ASCII). */
export interface MemoryChildResult {
  tasks: number;
  concurrency: number;
  /** `JSON.stringify(plan).length` of the workflow's plan. */
  planJson: number;
  /** Sum of `JSON.stringify(output).length` over the run record's tasks. */
  outputsJson: number;
  /** heapUsed after a GC, before the run. */
  heapBefore: number;
  /** Largest heapUsed of the GC'd samples during the run, and at its end (history stored). */
  heapPeak: number;
  /** heapUsed after a GC at the end of the run, the record held, the history still stored. */
  heapEnd: number;
  /** The same after the run's history was deleted from the memory transport. */
  heapEndNoHistory: number;
  /** The same after the memory transport was closed too (queues, duplicate windows, histories dropped): the engine alone. */
  heapEndNoTransport: number;
  /** GC'd samples taken during the run. */
  samples: number;
  /** Stored messages of the run's history (decision batches + reports). */
  historyMessages: number;
  /** Peak RSS of the child (whole process), and RSS before the run. */
  peakRss: number;
  rssBefore: number;
  /** Wall ms of the run (with the GC samples in it), and ms of those GCs. */
  runMs: number;
  gcMs: number;
}

const gc = (): void => {
  const f = (globalThis as { gc?: () => void }).gc;
  if (!f) throw new Error("bench/memory.ts needs node --expose-gc (bench/run.ts starts it so)");
  f();
};

/** In the child: one measured run. */
async function child(tasks: number, concurrency: number, sampleMs: number): Promise<MemoryChildResult> {
  const wf = wideWorkflow(tasks);
  const planJson = JSON.stringify(compile(wf, { registry })).length;
  const transport = createMemoryTransport();
  const engine = createEngine({ registry, transport, worker: true, keepHistory: false, concurrency });
  try {
    const warm = await engine.run(wideWorkflow(Math.min(concurrency, tasks)), {});
    if ((await warm.result()).status !== "succeeded") throw new Error("memory bench warm-up run did not succeed");
    await transport.deleteHistory(warm.runId);

    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const rssBefore = process.memoryUsage().rss;
    let heapPeak = 0;
    let samples = 0;
    let gcMs = 0;
    // A full GC of a large heap takes a while: the next sample waits at least 9x the last
    // GC, so sampling takes at most ~10% of the run instead of starving it.
    let sampler: ReturnType<typeof setTimeout> | undefined;
    const sample = (): void => {
      const g0 = performance.now();
      gc();
      const g = performance.now() - g0;
      gcMs += g;
      heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
      samples++;
      sampler = setTimeout(sample, Math.max(sampleMs, 9 * g));
    };
    sampler = setTimeout(sample, sampleMs);
    const t0 = performance.now();
    let handle;
    let record;
    try {
      handle = await engine.run(wf, {});
      record = await handle.result();
    } finally {
      clearTimeout(sampler);
    }
    const runMs = performance.now() - t0;
    if (record.status !== "succeeded") throw new Error(`memory bench run ended ${record.status}: ${JSON.stringify(record.error)}`);
    gc();
    const heapEnd = process.memoryUsage().heapUsed;
    heapPeak = Math.max(heapPeak, heapEnd);
    const historyMessages = (await transport.readHistory(handle.runId)).messages.length;
    await transport.deleteHistory(handle.runId);
    gc();
    const heapEndNoHistory = process.memoryUsage().heapUsed;
    await transport.close();
    gc();
    const heapEndNoTransport = process.memoryUsage().heapUsed;
    let outputsJson = 0;
    for (const t of record.tasks) outputsJson += (JSON.stringify(t.output) ?? "").length;
    const peakRss = process.resourceUsage().maxRSS * 1024;
    // The record (and the handle) stayed reachable until here.
    if (handle.status().tasks.length !== record.tasks.length) throw new Error("memory bench: the record changed after the run");
    return { tasks, concurrency, planJson, outputsJson, heapBefore, heapPeak, heapEnd, heapEndNoHistory, heapEndNoTransport, samples, historyMessages, peakRss, rssBefore, runMs, gcMs };
  } finally {
    await engine.close().catch(() => undefined);
    await transport.close().catch(() => undefined);
  }
}

/**
 * Run the memory bench in a child process and compare.
 * @example printComparisons("memory", (await runMemoryBench({ tasks: 10_000 })).comparisons);
 */
export async function runMemoryBench(options: MemoryBenchOptions = {}): Promise<{ comparisons: Comparison[]; result: MemoryChildResult }> {
  const tasks = options.tasks ?? 100_000;
  const concurrency = options.concurrency ?? 256;
  const sampleMs = options.sampleMs ?? 250;
  const r = await runChild<MemoryChildResult>(import.meta.url, ["--child", String(tasks), String(concurrency), String(sampleMs)], { timeoutMs: options.timeoutMs ?? 600_000 });
  const budget = r.planJson + r.outputsJson;
  const mb = (bytes: number): number => bytes / MB;
  const notes = [
    `memory: embedded engine in a child process (node --expose-gc), keepHistory: false, concurrency ${r.concurrency}; heapUsed after global.gc(), minus heapUsed before the run (workflow built, plan not yet compiled); ${r.samples} GC'd samples (${Math.round(r.gcMs).toLocaleString("en-US")} ms of GC) during a ${Math.round(r.runMs).toLocaleString("en-US")} ms run`,
    `memory: baseline = JSON.stringify(plan).length (${mb(r.planJson).toFixed(2)} MB) + JSON size of the ${r.tasks.toLocaleString("en-US")} outputs (${mb(r.outputsJson).toFixed(2)} MB)`,
    `memory: the peak and "end" also hold what the memory transport stores in place of nats-server: the run's history (${r.historyMessages.toLocaleString("en-US")} messages, ${mb(r.heapEnd - r.heapEndNoHistory).toFixed(1)} MB of heap at the end), the queued task messages and the duplicate window of dispatch ids (${mb(Math.max(0, r.heapEndNoHistory - r.heapEndNoTransport)).toFixed(1)} MB at the end); "end, transport closed" is the engine alone`,
    `memory: whole-process peak RSS ${mb(r.peakRss).toFixed(0)} MB (${mb(r.rssBefore).toFixed(0)} MB before the run)`,
  ];
  const row = (what: string, heap: number, goal: boolean): Comparison =>
    compare({
      bench: "memory",
      case: `wide: ${r.tasks.toLocaleString("en-US")} no-op tasks, ${what}`,
      unit: "MB",
      better: "lower",
      baselineLabel: "plan JSON size + outputs JSON size",
      samples: { phaseflow: [mb(heap - r.heapBefore)], baseline: [mb(budget)] },
      ...(goal ? { goal: { op: "<=" as const, value: 2 } } : {}),
      notes,
    });
  return {
    result: r,
    comparisons: [
      row("peak heap during the run (engine + worker + memory transport)", r.heapPeak, true),
      row("end, record held, transport still holding the history", r.heapEnd, false),
      row("end, record held, transport closed (engine alone)", r.heapEndNoTransport, false),
    ],
  };
}

const args = process.argv.slice(2);
const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly && args[0] === "--child") {
  const result = await child(Number(args[1]), Number(args[2]), Number(args[3]));
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else if (invokedDirectly) {
  const { comparisons } = await runMemoryBench(args[0] === undefined ? {} : { tasks: Number(args[0]) });
  printComparisons("coordinator memory for one wide run (heap MB after GC; ratio <= 2 is the goal)", comparisons);
}
