/**
 * `npm run bench`: every bench in one go — compile, embedded, fleet over NATS, memory — each
 * against a baseline measured in the same run, printed as one table per bench
 * (case, phaseflow figure, baseline figure, ratio) and written as JSON to
 * bench/results/latest.json. Progress goes to stderr, the report to stdout. When both
 * the embedded and the NATS bench ran, it also compares the embedded chain's ms per
 * phase with the NATS baseline's raw JetStream round trip per step (goal <= 0.05).
 * The cluster bench runs the wide and chain shapes on a 3-node nats-server cluster with
 * 3 replicas, next to 1 replica and raw JetStream at 3 replicas (bench/nats-cluster.ts).
 * The memory bench also folds a 100,000-item map's history as a coordinator does and
 * reports the bytes it keeps per instance against the outputs (bench/map-fold.ts).
 * Last, a "goals" section lists every goal, met or NOT met.
 *
 *   npm run bench                          all benches (a few minutes on 2 cores)
 *   npm run bench -- --only embedded,nats  a subset
 *   npm run bench -- --quick               small sizes, one run each: a smoke test, not figures to quote
 *   npm run bench -- --profile DIR         also write CPU profiles of the NATS bench's phaseflow workers to DIR
 *   npm run bench -- --json PATH           write the JSON elsewhere
 *
 * To profile the bench process itself (embedded engine, NATS coordinator and client):
 * `node --cpu-prof --cpu-prof-dir=DIR --import tsx bench/run.ts --only nats`, then
 * `npx tsx bench/lib/cpu-profile.ts DIR/*.cpuprofile`.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { runCompileBench } from "./compile.js";
import { runEmbeddedBench } from "./embedded.js";
import { compare, goalFigure, printComparisons, sig, type Comparison } from "./lib/compare.js";
import { comparisonsFromResults } from "./lib/from-results.js";
import { REPO_ROOT } from "./lib/node-script.js";
import type { BenchResult } from "./lib/table.js";
import { runClusterBench } from "./nats-cluster.js";
import { runMapFoldBench } from "./map-fold.js";
import { runMemoryBench, type MemoryChildResult } from "./memory.js";
import { printCpuBreakdown, printStoredMessages, runNatsBench, type CpuBreakdown, type StoredMessages } from "./nats.js";

const BENCHES = ["compile", "embedded", "nats", "cluster", "memory"] as const;
type BenchName = (typeof BENCHES)[number];

const { values } = parseArgs({
  options: {
    only: { type: "string" },
    quick: { type: "boolean", default: false },
    profile: { type: "string" },
    json: { type: "string" },
  },
});

const selected: BenchName[] = values.only === undefined ? [...BENCHES] : values.only.split(",").map((s) => s.trim()).filter((s) => s !== "") as BenchName[];
const unknown = selected.filter((s) => !(BENCHES as readonly string[]).includes(s));
if (unknown.length > 0) {
  console.error(`unknown bench(es): ${unknown.join(", ")}; choose from ${BENCHES.join(", ")}, e.g. --only embedded,nats`);
  process.exit(2);
}
const quick = values.quick;

const report: {
  generatedAt: string;
  quick: boolean;
  machine: { node: string; platform: string; cpus: number; cpuModel: string; memoryGB: number };
  comparisons: Record<string, Comparison[]>;
  compile?: BenchResult[];
  natsCpu?: CpuBreakdown[];
  natsStored?: StoredMessages[];
  memory?: MemoryChildResult;
  durationsMs: Record<string, number>;
} = {
  generatedAt: new Date().toISOString(),
  quick,
  machine: { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", memoryGB: Math.round(totalmem() / 2 ** 30) },
  comparisons: {},
  durationsMs: {},
};

console.log(`phaseflow benchmarks${quick ? " (--quick: smoke sizes, not figures to quote)" : ""}`);
console.log(`node ${report.machine.node}, ${report.machine.platform}, ${report.machine.cpus} x ${report.machine.cpuModel}, ${report.machine.memoryGB} GB`);

let natsChainBaseline: number[] | undefined;

for (const bench of selected) {
  const t0 = performance.now();
  process.stderr.write(`\n== ${bench} bench\n`);
  if (bench === "compile") {
    const results = await runCompileBench(quick ? { sizes: [{ tasks: 10_000, edges: 30_000, runs: 3 }], memoryRuns: 1 } : {});
    report.compile = results;
    report.comparisons.compile = comparisonsFromResults(results);
    printComparisons("compile: compile() vs typed-array Kahn layering (medians; ratio < 1 is better)", report.comparisons.compile);
  } else if (bench === "embedded") {
    report.comparisons.embedded = await runEmbeddedBench(quick ? { wideTasks: 2_000, chainPhases: 50, runs: 2 } : {});
    printComparisons("embedded engine vs plain Promise dispatch (medians)", report.comparisons.embedded);
  } else if (bench === "nats") {
    const profile = values.profile === undefined ? undefined : resolve(values.profile);
    const natsResult = await runNatsBench({
      ...(quick ? { wideTasks: 2_000, chainPhases: 50, runs: 1 } : {}),
      ...(profile ? { workerNodeArgs: ["--cpu-prof", `--cpu-prof-dir=${profile}`] } : {}),
    });
    const { comparisons, cpu, stored, chainMsPerStep } = natsResult;
    report.comparisons.nats = comparisons;
    report.natsCpu = cpu;
    report.natsStored = stored;
    natsChainBaseline = chainMsPerStep.baseline;
    printComparisons("fleet over NATS vs raw JetStream messaging (medians)", comparisons);
    printCpuBreakdown(cpu);
    printStoredMessages(stored);
    if (profile) console.log(`  worker CPU profiles in ${profile}: npx tsx bench/lib/cpu-profile.ts ${profile}/*.cpuprofile`);
  } else if (bench === "cluster") {
    report.comparisons.cluster = await runClusterBench(quick ? { wideTasks: 500, chainPhases: 20, runs: 1 } : {});
    printComparisons("NATS cluster (3 nodes): phaseflow R3 vs raw JetStream R3, and vs phaseflow R1 (medians)", report.comparisons.cluster);
  } else {
    const { comparisons, result } = await runMemoryBench(quick ? { tasks: 10_000 } : {});
    report.comparisons.memory = comparisons;
    report.memory = result;
    printComparisons("coordinator memory for one wide run: heap MB after GC vs plan JSON + outputs JSON", comparisons);
    const map = await runMapFoldBench(quick ? { items: 20_000 } : {});
    report.comparisons.memory.push(...map.comparisons);
    printComparisons("coordinator memory for one big map: bytes per instance after GC vs the outputs", map.comparisons);
  }
  report.durationsMs[bench] = performance.now() - t0;
}

// Cross-bench: the embedded chain's ms per phase against raw JetStream's round trip per step, both from this run.
const embeddedChain = report.comparisons.embedded?.find((c) => c.case.startsWith("chain:"));
if (embeddedChain && natsChainBaseline) {
  const cross = [
    compare({
      bench: "embedded",
      case: `${embeddedChain.case}, vs the NATS bench's baseline chain`,
      unit: "ms/phase",
      better: "lower",
      baselineLabel: "raw JetStream round trip per step (the NATS bench's baseline chain: publish task k+1 after result k), measured in this run",
      samples: { phaseflow: embeddedChain.samples.phaseflow, baseline: natsChainBaseline },
      goal: { op: "<=", value: 0.05 },
      notes: ["cross-bench: embedded engine chain (ms per phase) / raw JetStream chain (ms per step), both medians from this run"],
    }),
  ];
  report.comparisons.cross = cross;
  printComparisons("cross-bench: embedded chain vs a raw JetStream round trip (medians)", cross);
}

const goals = Object.values(report.comparisons)
  .flat()
  .filter((c) => c.goal !== undefined);
if (goals.length > 0) {
  console.log("\ngoals");
  for (const c of goals) {
    const on = c.goal!.of === "phaseflow" ? `${sig(goalFigure(c))} ${c.unit}` : `ratio ${sig(c.ratio)}`;
    console.log(`  ${c.met === true ? "met    " : "NOT met"}  ${c.bench} ${c.case}: ${on} (goal ${c.goal!.op} ${c.goal!.value})`);
  }
}

const jsonPath = values.json === undefined ? resolve(REPO_ROOT, "bench/results/latest.json") : resolve(values.json);
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, `${JSON.stringify(report, (_, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`);
console.log(`\nresults written to ${jsonPath}; took ${Object.entries(report.durationsMs).map(([b, ms]) => `${b} ${Math.round(ms / 1000)} s`).join(", ")}`);
