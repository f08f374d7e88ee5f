/**
 * NATS bench: the fleet on loopback — a fresh nats-server (tests/support/nats-server.ts),
 * the coordinator service in this process, 2 `phaseflow worker` OS processes and a
 * client — on two shapes of no-op work:
 *   wide:  one phase of 10,000 tasks, reported as tasks/s (goal: >= 0.5 of the baseline);
 *   chain: 200 phases of one task each, reported as ms per phase (goal: <= 2x the baseline);
 * against a baseline measured in the same run on the same server: the same messaging
 * with no engine (bench/nats-baseline.ts: task messages of the same shape and size on a
 * work-queue stream, 2 raw-client worker processes that pull, publish a result and ack,
 * a dispatcher that reads the results; for the chain it sends task k+1 only after
 * result k). Workers pull and handle at most `concurrency` tasks at once on both sides.
 *
 * Each case gets its own deployment (a fresh prefix for phaseflow, fresh stream names
 * for the baseline, new worker processes): one warm-up run (a tenth of the wide phase;
 * the whole chain), then the timed runs; figures are medians. Around each timed run it
 * also reads the CPU time of nats-server, this process and the workers, so the report
 * says where the time goes (CPU ms per task per process). The server is stopped at the
 * end even when a run fails.
 *
 * Run: `npx tsx bench/nats.ts`. `bench/run.ts` calls `runNatsBench()`.
 */
import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";
import { compile } from "../src/compiler/compile.js";
import type { Workflow } from "../src/dsl/workflow.js";
import { startNatsServer } from "../tests/support/nats-server.js";
import { compare, perSecond, printComparisons, sig, type Comparison } from "./lib/compare.js";
import { cpuDeltaMs, snapshotCpu } from "./lib/process-cpu.js";
import { median } from "./lib/stats.js";
import { chainWorkflow, wideWorkflow } from "./lib/workflows.js";
import { startBaseline } from "./nats-baseline.js";
import { startFleet } from "./nats-engine.js";

export interface NatsBenchOptions {
  /** Tasks in the wide phase. Default 10,000. */
  wideTasks?: number;
  /** Phases in the chain. Default 200. */
  chainPhases?: number;
  /** Worker processes, phaseflow and baseline alike. Default 2. */
  workers?: number;
  /** Tasks each worker pulls and runs at once, phaseflow and baseline alike. Default 128 (2 workers: 256 in flight, as a tuned user would run it). */
  concurrency?: number;
  /** Timed runs per subject and case. Default 3. */
  runs?: number;
  /** Limit of one run, ms. Default 120000. */
  runTimeoutMs?: number;
  /** Node flags of phaseflow's worker processes, e.g. `["--cpu-prof", "--cpu-prof-dir=prof"]`. Default none. */
  workerNodeArgs?: readonly string[];
  /** Progress lines. Default: to stderr. */
  log?: (line: string) => void;
}

/** A fresh lower-case name part, e.g. "bw3fa9c1". */
function uniqueId(kind: string): string {
  return `${kind}${randomBytes(3).toString("hex")}`;
}

/** CPU ms per task (per phase for the chain) of each process group, medians over the timed runs. */
export interface CpuBreakdown {
  case: "wide" | "chain";
  subject: "phaseflow" | "baseline";
  /** nats-server, this process (coordinator + client, or the baseline dispatcher), the worker processes together. */
  server: number | undefined;
  bench: number | undefined;
  workers: number | undefined;
  /** Wall ms per task, for scale: with 2 cores, CPU ms summed over processes can reach twice this. */
  wall: number;
}

export interface NatsBenchResult {
  comparisons: Comparison[];
  cpu: CpuBreakdown[];
}

interface CaseSpec {
  name: "wide" | "chain";
  workflow: Workflow<unknown>;
  warmup: Workflow<unknown>;
  /** Tasks (wide) or steps (chain) of a timed run. */
  size: number;
  /** The same, of the warm-up run. */
  warmupSize: number;
}

/**
 * Run the NATS bench.
 * @example
 * const { comparisons, cpu } = await runNatsBench({ runs: 1, wideTasks: 2_000 });
 * printComparisons("nats", comparisons);
 * printCpuBreakdown(cpu);
 */
export async function runNatsBench(options: NatsBenchOptions = {}): Promise<NatsBenchResult> {
  const wideTasks = options.wideTasks ?? 10_000;
  const chainPhases = options.chainPhases ?? 200;
  const workers = options.workers ?? 2;
  const concurrency = options.concurrency ?? 128;
  const runs = options.runs ?? 3;
  const timeoutMs = options.runTimeoutMs ?? 120_000;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const fmtMs = (ms: number): string => `${Math.round(ms).toLocaleString("en-US")} ms`;

  const warmWide = Math.max(1, Math.round(wideTasks / 10));
  const chain = chainWorkflow(chainPhases);
  const cases: CaseSpec[] = [
    { name: "wide", workflow: wideWorkflow(wideTasks), warmup: wideWorkflow(warmWide), size: wideTasks, warmupSize: warmWide },
    { name: "chain", workflow: chain, warmup: chain, size: chainPhases, warmupSize: chainPhases },
  ];

  const server = await startNatsServer();
  log(`nats bench: nats-server on ${server.url}; ${workers} workers x concurrency ${concurrency}; ${runs} timed runs per subject`);
  const timings = { wide: { phaseflow: [] as number[], baseline: [] as number[] }, chain: { phaseflow: [] as number[], baseline: [] as number[] } };
  const cpu: CpuBreakdown[] = [];
  let taskBytes = 0;

  /** Time `runs` runs of `once`, with the CPU each process group spent on them. */
  const timed = async (c: CaseSpec, subject: "phaseflow" | "baseline", workerPids: readonly number[], once: () => Promise<number>): Promise<void> => {
    const groups = { server: [server.pid], bench: [process.pid], workers: workerPids };
    const perTask: Record<"server" | "bench" | "workers", (number | undefined)[]> = { server: [], bench: [], workers: [] };
    for (let r = 1; r <= runs; r++) {
      const before = snapshotCpu(groups);
      const ms = await once();
      const spent = cpuDeltaMs(before, snapshotCpu(groups));
      for (const k of ["server", "bench", "workers"] as const) perTask[k].push(spent[k] === undefined ? undefined : spent[k] / c.size);
      timings[c.name][subject].push(ms);
      log(`nats ${c.name}: ${subject} run ${r}/${runs}: ${fmtMs(ms)}`);
    }
    const med = (xs: (number | undefined)[]): number | undefined => (xs.some((x) => x === undefined) ? undefined : median(xs as number[]));
    cpu.push({ case: c.name, subject, server: med(perTask.server), bench: med(perTask.bench), workers: med(perTask.workers), wall: median(timings[c.name][subject]) / c.size });
  };

  try {
    for (const c of cases) {
      const workflows = c.warmup === c.workflow ? [c.workflow] : [c.workflow, c.warmup];
      const fleet = await startFleet({ url: server.url, prefix: uniqueId(`b${c.name[0]!}`), workflows, workers, concurrency, ...(options.workerNodeArgs ? { workerNodeArgs: options.workerNodeArgs } : {}) });
      try {
        log(`nats ${c.name}: phaseflow warm-up: ${fmtMs(await fleet.run(c.warmup.name, timeoutMs))}`);
        await timed(c, "phaseflow", fleet.workerPids, () => fleet.run(c.workflow.name, timeoutMs));
      } finally {
        await fleet.close();
      }

      const base = await startBaseline({ url: server.url, id: uniqueId(`x${c.name[0]!}`), workers, concurrency, planHash: compile(c.workflow).planHash });
      taskBytes = base.taskBytes;
      const once = (size: number): Promise<number> => (c.name === "wide" ? base.wide(size, timeoutMs) : base.chain(size, timeoutMs));
      try {
        log(`nats ${c.name}: baseline warm-up: ${fmtMs(await once(c.warmupSize))}`);
        await timed(c, "baseline", base.workerPids, () => once(c.size));
      } finally {
        await base.close();
      }
    }
  } finally {
    await server.stop();
  }

  const notes = [
    `nats: a fresh nats-server on loopback (file storage); ${workers} worker processes x concurrency ${concurrency} on both sides; coordinator and client (or the baseline dispatcher) in the bench process`,
    `nats: phaseflow times a run from client.start() to the terminal event seen by client.follow(); the baseline from its first publish to its last result; task messages ~${taskBytes} bytes on both sides`,
  ];
  const comparisons = [
    compare({
      bench: "nats",
      case: `wide: ${wideTasks.toLocaleString("en-US")} no-op tasks in one phase`,
      unit: "tasks/s",
      better: "higher",
      baselineLabel: `raw JetStream: publish every task to a work-queue stream; ${workers} raw-client worker processes pull, publish a result and ack; wait for every result`,
      samples: { phaseflow: timings.wide.phaseflow.map((ms) => perSecond(wideTasks, ms)), baseline: timings.wide.baseline.map((ms) => perSecond(wideTasks, ms)) },
      goal: { op: ">=", value: 0.5 },
      notes,
    }),
    compare({
      bench: "nats",
      case: `chain: ${chainPhases} phases of one no-op task`,
      unit: "ms/phase",
      better: "lower",
      baselineLabel: "raw JetStream: publish task k+1 only after result k arrived; same workers and streams",
      samples: { phaseflow: timings.chain.phaseflow.map((ms) => ms / chainPhases), baseline: timings.chain.baseline.map((ms) => ms / chainPhases) },
      goal: { op: "<=", value: 2 },
      notes,
    }),
  ];
  return { comparisons, cpu };
}

/** Print the CPU breakdown as a table: where each side spends its CPU, per task. */
export function printCpuBreakdown(rows: readonly CpuBreakdown[]): void {
  console.log("\nCPU ms per task during the timed runs (medians; chain: per phase)");
  const headers = ["case", "subject", "nats-server", "bench process", "workers", "total", "wall ms/task"];
  const text = rows.map((r) => {
    const total = r.server === undefined || r.bench === undefined || r.workers === undefined ? undefined : r.server + r.bench + r.workers;
    return [r.case, r.subject, ...[r.server, r.bench, r.workers, total, r.wall].map((v) => (v === undefined ? "-" : sig(v)))];
  });
  const width = headers.map((h, i) => Math.max(h.length, ...text.map((t) => t[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join("  ");
  console.log([line(headers), width.map((w) => "-".repeat(w)).join("  "), ...text.map(line)].join("\n"));
  console.log("  note: bench process = coordinator + client for phaseflow, the dispatcher for the baseline; workers = both worker processes together");
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const { comparisons, cpu } = await runNatsBench();
  printComparisons("fleet over NATS (medians)", comparisons);
  printCpuBreakdown(cpu);
}
