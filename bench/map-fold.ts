/**
 * Map memory bench (issue 11's scale point): what a coordinator keeps per instance of a
 * big map, against what the map cannot do without — its outputs.
 *
 * In a child process (`node --import tsx --expose-gc`), an embedded engine runs one map
 * of N items (default 100,000) whose executor returns `{ i: k }`; its stored history is
 * then serialized once. Each sample parses that text afresh (so no output object is
 * shared with anything else), folds it the way a coordinator does on resume
 * (`createRunState(runId, model, { compact: true })`; the model is built before, it is
 * the plan's and not per run) up to the map's settling (the state.exited and
 * run.succeeded after it carry the outputs again: a live coordinator shares those with
 * the map's output, a fold of the stored text parses them anew), drops the parsed history and reads heapUsed +
 * arrayBuffers after a GC: what the folded state alone retains (the typed-array columns
 * live in array buffers). The same for a plain fold (`compact: false`, one task record
 * object per instance, what every instance cost before), and for the outputs array by
 * itself (parsed from its JSON). Figures are bytes per instance, medians of the samples.
 *
 * Run: `npx tsx bench/map-fold.ts [items] [samples]`. `bench/run.ts --only memory` calls `runMapFoldBench()`.
 */
import { pathToFileURL } from "node:url";
import { compile } from "../src/compiler/compile.js";
import { workflow } from "../src/dsl/workflow.js";
import { createRegistry } from "../src/registry/registry.js";
import { createEngine } from "../src/embedded/engine.js";
import { historyEvents } from "../src/runtime/core/history.js";
import { runModelOf } from "../src/runtime/core/run-model.js";
import { runRecordOf } from "../src/runtime/core/run-record.js";
import { createRunState, foldEvents, type RunState } from "../src/runtime/core/run-state.js";
import { createMemoryTransport } from "../src/transport/memory/hub.js";
import type { StoredMessage } from "../src/transport/messages.js";
import { compare, printComparisons, type Comparison } from "./lib/compare.js";
import { runChild } from "./lib/memory.js";
import { median } from "./lib/stats.js";

export interface MapFoldBenchOptions {
  /** Items of the map. Default 100,000. */
  items?: number;
  /** Folds measured per kind. Default 3. */
  samples?: number;
  /** Limit of the child process, ms. Default 600000. */
  timeoutMs?: number;
}

/** What the child reports: bytes per instance, one entry per sample. */
export interface MapFoldChildResult {
  items: number;
  /** JSON size of the map's output (the outputs in item order), per instance. */
  outputsJson: number;
  /** Heap the outputs array alone retains, parsed from its JSON, per instance. */
  outputsHeap: number[];
  /** Retained by a coordinator's (compact) fold of the history, per instance. */
  compact: number[];
  /** Retained by a plain fold (a task record object per instance), per instance. */
  plain: number[];
  /** Stored messages of the history. */
  historyMessages: number;
}

const gc = (): void => {
  const f = (globalThis as { gc?: () => void }).gc;
  if (!f) throw new Error("bench/map-fold.ts needs node --expose-gc (run it through bench/run.ts or runMapFoldBench)");
  f();
  f();
};
const used = (): number => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

/** Bytes `make()` leaves reachable, the result kept alive until measured. */
function retained(make: () => unknown): number {
  gc();
  const before = used();
  let value: unknown = make();
  gc();
  const after = used();
  if (value === undefined) throw new Error("nothing measured");
  value = undefined;
  return after - before;
}

async function child(items: number, samples: number): Promise<MapFoldChildResult> {
  const wf = workflow(`bench-map-fold-${items}`, { version: "1" });
  wf.state("map").map("each", { executor: "bench/echo", items: () => Array.from({ length: items }, (_, i) => i), maxConcurrency: 1_000 });
  const registry = createRegistry();
  registry.namespace("bench").register("echo", (i: number) => ({ i }));
  const transport = createMemoryTransport();
  const engine = createEngine({ registry, transport, worker: true, keepHistory: false, concurrency: 256 });
  let text: string;
  let outputsText: string;
  let historyMessages: number;
  try {
    const record = await (await engine.run(wf, {})).result();
    if (record.status !== "succeeded") throw new Error(`map fold bench run ended ${record.status}: ${JSON.stringify(record.error)}`);
    const { messages } = await transport.readHistory(record.runId);
    historyMessages = messages.length;
    text = JSON.stringify(messages);
    outputsText = JSON.stringify(record.tasks.find((t) => t.task === "each")!.output);
  } finally {
    await engine.close();
    await transport.close();
  }
  const plan = compile(wf, { registry });
  const model = runModelOf(plan, wf);
  // Up to the map's settling: later events (state.exited, run.succeeded) carry the outputs again, which
  // a live coordinator shares with the map's output but a fold of the stored text parses anew.
  const fold = (compact: boolean, whole = false): RunState => {
    const all = historyEvents(JSON.parse(text) as StoredMessage[]);
    const cut = whole ? all.length : all.findIndex((e) => e.type === "state.exited");
    const state = foldEvents(createRunState(all[0]!.runId, model, { compact }), all.slice(0, cut));
    all.length = 0;
    const map = state.record.tasks.find((t) => t.task === "each");
    if (map?.status !== "succeeded") throw new Error("the folded map did not succeed");
    return state;
  };
  // The two folds must agree before their sizes mean anything.
  if (JSON.stringify(runRecordOf(fold(true, true))) !== JSON.stringify(fold(false, true).record)) throw new Error("compact and plain folds disagree");
  const result: MapFoldChildResult = { items, outputsJson: outputsText.length / items, outputsHeap: [], compact: [], plain: [], historyMessages };
  for (let s = 0; s < samples; s++) {
    result.outputsHeap.push(retained(() => JSON.parse(outputsText) as unknown) / items);
    result.compact.push(retained(() => fold(true)) / items);
    result.plain.push(retained(() => fold(false)) / items);
  }
  return result;
}

/**
 * Run the map fold bench in a child process and compare.
 * @example printComparisons("map memory", (await runMapFoldBench({ items: 20_000 })).comparisons);
 */
export async function runMapFoldBench(options: MapFoldBenchOptions = {}): Promise<{ comparisons: Comparison[]; result: MapFoldChildResult }> {
  const items = options.items ?? 100_000;
  const r = await runChild<MapFoldChildResult>(import.meta.url, ["--child", String(items), String(options.samples ?? 3)], { timeoutMs: options.timeoutMs ?? 600_000 });
  const n = items.toLocaleString("en-US");
  const notes = [
    `map memory: heapUsed + arrayBuffers after global.gc() retained by the folded state of a ${n}-item map's history up to the map's settling (${r.historyMessages.toLocaleString("en-US")} stored messages), per instance, median of ${r.compact.length}; outputs { i: k }`,
    `map memory: the outputs array alone retains ${median(r.outputsHeap).toFixed(1)} bytes per instance on the heap; its JSON is ${r.outputsJson.toFixed(1)} bytes per instance`,
  ];
  const row = (what: string, samples: number[], baseline: "heap" | "json", goal: boolean): Comparison =>
    compare({
      bench: "memory",
      case: `map: ${n} items, ${what}, vs the outputs' ${baseline === "heap" ? "own heap" : "JSON"}`,
      unit: "bytes/instance",
      better: "lower",
      baselineLabel: baseline === "heap" ? "heap the outputs array alone retains, per instance" : "the outputs' JSON size per instance",
      samples: { phaseflow: samples, baseline: baseline === "heap" ? r.outputsHeap : [r.outputsJson] },
      ...(goal ? { goal: { op: "<=" as const, value: 2 } } : {}),
      notes,
    });
  return {
    result: r,
    comparisons: [
      row("coordinator's fold (compact instances)", r.compact, "heap", true),
      row("coordinator's fold (compact instances)", r.compact, "json", false),
      row("plain fold (a task record per instance)", r.plain, "heap", false),
    ],
  };
}

const args = process.argv.slice(2);
const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly && args[0] === "--child") {
  const result = await child(Number(args[1]), Number(args[2]));
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else if (invokedDirectly) {
  const { comparisons } = await runMapFoldBench({ ...(args[0] !== undefined ? { items: Number(args[0]) } : {}), ...(args[1] !== undefined ? { samples: Number(args[1]) } : {}) });
  printComparisons("coordinator memory for one big map (bytes per instance after GC, vs the outputs' JSON)", comparisons);
}
