/**
 * `npm run bench`: every bench in one go — compile, embedded, fleet over NATS — each
 * against a baseline measured in the same run, printed as one table per bench
 * (case, phaseflow figure, baseline figure, ratio) and written as JSON to
 * bench/results/latest.json. Progress goes to stderr, the report to stdout.
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
import { printComparisons, sig, type Comparison } from "./lib/compare.js";
import { comparisonsFromResults } from "./lib/from-results.js";
import { REPO_ROOT } from "./lib/node-script.js";
import type { BenchResult } from "./lib/table.js";
import { printCpuBreakdown, runNatsBench, type CpuBreakdown } from "./nats.js";

const BENCHES = ["compile", "embedded", "nats"] as const;
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
  } else {
    const profile = values.profile === undefined ? undefined : resolve(values.profile);
    const { comparisons, cpu } = await runNatsBench({
      ...(quick ? { wideTasks: 2_000, chainPhases: 50, runs: 1 } : {}),
      ...(profile ? { workerNodeArgs: ["--cpu-prof", `--cpu-prof-dir=${profile}`] } : {}),
    });
    report.comparisons.nats = comparisons;
    report.natsCpu = cpu;
    printComparisons("fleet over NATS vs raw JetStream messaging (medians)", comparisons);
    printCpuBreakdown(cpu);
    if (profile) console.log(`  worker CPU profiles in ${profile}: npx tsx bench/lib/cpu-profile.ts ${profile}/*.cpuprofile`);
  }
  report.durationsMs[bench] = performance.now() - t0;
}

const goals = Object.values(report.comparisons)
  .flat()
  .filter((c) => c.goal !== undefined);
if (goals.length > 0) {
  console.log("\ngoals");
  for (const c of goals) console.log(`  ${c.met === true ? "met    " : "NOT met"}  ${c.bench} ${c.case}: ratio ${sig(c.ratio)} (goal ${c.goal!.op} ${c.goal!.value})`);
}

const jsonPath = values.json === undefined ? resolve(REPO_ROOT, "bench/results/latest.json") : resolve(values.json);
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, `${JSON.stringify(report, (_, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`);
console.log(`\nresults written to ${jsonPath}; took ${Object.entries(report.durationsMs).map(([b, ms]) => `${b} ${Math.round(ms / 1000)} s`).join(", ")}`);
