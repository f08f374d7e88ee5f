/**
 * NATS bench: the fleet on loopback — a fresh nats-server (tests/support/nats-server.ts),
 * the coordinator service in this process, 2 `phaseflow worker` OS processes and a
 * client — on two shapes of no-op work:
 *   wide:  one phase of 10,000 tasks, reported as tasks/s (goal: >= 0.75 of the baseline),
 *          and the CPU all processes spent per task (goal: <= 1.5x the baseline's);
 *   map:   one map node over 10,000 items on the wide case's fleet, right after it, as
 *          tasks/s against that wide phase (goal: >= 1/1.5 of it);
 *   chain: 200 phases of one task each, reported as ms per phase (goal: <= 1.5x the baseline);
 *   wide (2,000 tasks) and chain again with a task concurrency and rate limit that never bind,
 *          against the same shapes without, timed in turns on the same fleet (goal: at most 10% slower);
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
 * says where the time goes (CPU ms per task per process), and counts the messages the
 * run stored: phaseflow's task messages (`<P>_TASKS`), decisions (`<p>.evt.<runId>.d`),
 * reports (`.r`) and run-summary KV writes; the baseline's task and result messages.
 * Goal: at most 2 stored messages per task on the hot path (task message + report),
 * decisions O(phases). The server is stopped at the end even when a run fails.
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
import { chainWorkflow, mapWorkflow, wideWorkflow } from "./lib/workflows.js";
import { startBaseline } from "./nats-baseline.js";
import { startFleet, type StoredCounts } from "./nats-engine.js";

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

/** Tasks of the fleet's wide run with limits that never bind (and its twin without). */
const LIMITED_WIDE_TASKS = 2_000;

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

/** Stored messages of one case and subject, medians over the timed runs. */
export interface StoredMessages {
  case: "wide" | "chain";
  subject: "phaseflow" | "baseline";
  /** Tasks of one run, and its phases. */
  tasks: number;
  phases: number;
  /** Task messages (both sides). */
  taskMessages: number;
  /** phaseflow's reports; the baseline's result messages. */
  reports: number;
  /** phaseflow's decision batches (0 for the baseline). */
  decisions: number;
  /** phaseflow's run-summary KV writes (undefined for the baseline, which has none). */
  kv: number | undefined;
  /** The counts of each timed run. */
  perRun: StoredCounts[];
}

export interface NatsBenchResult {
  comparisons: Comparison[];
  cpu: CpuBreakdown[];
  stored: StoredMessages[];
  /** Medians of the chain's ms per step, phaseflow and baseline: other benches compare against the baseline's. */
  chainMsPerStep: { phaseflow: number[]; baseline: number[] };
}

interface CaseSpec {
  name: "wide" | "chain";
  workflow: Workflow<unknown>;
  /** The shape with a task concurrency and rate limit that never bind (README "Traffic control"), and the same shape without, timed in turns. */
  limited: { with: Workflow<unknown>; without: Workflow<unknown>; size: number };
  warmup: Workflow<unknown>;
  /** Tasks (wide) or steps (chain) of a timed run. */
  size: number;
  /** The same, of the warm-up run. */
  warmupSize: number;
  /** Phases of a timed run. */
  phases: number;
}

/** One timed run: its ms and what it stored. */
interface RunOutcome {
  ms: number;
  stored: StoredCounts;
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
  const mapCase = mapWorkflow(wideTasks);
  const mapTimes: number[] = [];
  /**
   * The shapes with limits that never bind and the same without, timed in turns on the same fleet right after the plain
   * runs. The fleet's wide one has LIMITED_WIDE_TASKS tasks at most: every attempt takes its limits in the KV store, and
   * 10,000 of them in one phase took over the run timeout.
   */
  const limitedTimes = { wide: { with: [] as number[], without: [] as number[] }, chain: { with: [] as number[], without: [] as number[] } };
  const limitedWide = Math.min(wideTasks, LIMITED_WIDE_TASKS);
  const wideTwin = limitedWide === wideTasks ? wideWorkflow(wideTasks) : wideWorkflow(limitedWide);
  const chain = chainWorkflow(chainPhases);
  const cases: CaseSpec[] = [
    { name: "wide", workflow: wideWorkflow(wideTasks), limited: { with: wideWorkflow(limitedWide, true), without: wideTwin, size: limitedWide }, warmup: wideWorkflow(warmWide), size: wideTasks, warmupSize: warmWide, phases: 1 },
    { name: "chain", workflow: chain, limited: { with: chainWorkflow(chainPhases, true), without: chain, size: chainPhases }, warmup: chain, size: chainPhases, warmupSize: chainPhases, phases: chainPhases },
  ];

  const server = await startNatsServer();
  log(`nats bench: nats-server on ${server.url}; ${workers} workers x concurrency ${concurrency}; ${runs} timed runs per subject`);
  const timings = { wide: { phaseflow: [] as number[], baseline: [] as number[] }, chain: { phaseflow: [] as number[], baseline: [] as number[] } };
  const cpu: CpuBreakdown[] = [];
  /** CPU ms per task of all processes together (nats-server, bench process, workers), per timed run. */
  const cpuTotals = { wide: { phaseflow: [] as number[], baseline: [] as number[] }, chain: { phaseflow: [] as number[], baseline: [] as number[] } };
  const stored: StoredMessages[] = [];
  let taskBytes = 0;
  const med = (xs: (number | undefined)[]): number | undefined => (xs.some((x) => x === undefined) ? undefined : median(xs as number[]));

  /** Time `runs` runs of `once`, with the CPU each process group spent on them and the messages each stored. */
  const timed = async (c: CaseSpec, subject: "phaseflow" | "baseline", workerPids: readonly number[], once: () => Promise<RunOutcome>): Promise<void> => {
    const groups = { server: [server.pid], bench: [process.pid], workers: workerPids };
    const perTask: Record<"server" | "bench" | "workers", (number | undefined)[]> = { server: [], bench: [], workers: [] };
    const counts: StoredCounts[] = [];
    const totals: number[] = [];
    for (let r = 1; r <= runs; r++) {
      const before = snapshotCpu(groups);
      const { ms, stored: s } = await once();
      const spent = cpuDeltaMs(before, snapshotCpu(groups));
      for (const k of ["server", "bench", "workers"] as const) perTask[k].push(spent[k] === undefined ? undefined : spent[k] / c.size);
      if (spent.server !== undefined && spent.bench !== undefined && spent.workers !== undefined) totals.push((spent.server + spent.bench + spent.workers) / c.size);
      timings[c.name][subject].push(ms);
      counts.push(s);
      log(`nats ${c.name}: ${subject} run ${r}/${runs}: ${fmtMs(ms)}; stored ${s.tasks} task messages, ${s.reports} ${subject === "phaseflow" ? "reports" : "results"}, ${s.decisions} decision batches${subject === "phaseflow" ? `, ${s.kv} KV writes` : ""}`);
    }
    cpuTotals[c.name][subject] = totals;
    cpu.push({ case: c.name, subject, server: med(perTask.server), bench: med(perTask.bench), workers: med(perTask.workers), wall: median(timings[c.name][subject]) / c.size });
    stored.push({
      case: c.name,
      subject,
      tasks: c.size,
      phases: c.phases,
      taskMessages: median(counts.map((k) => k.tasks)),
      reports: median(counts.map((k) => k.reports)),
      decisions: median(counts.map((k) => k.decisions)),
      kv: subject === "phaseflow" ? median(counts.map((k) => k.kv)) : undefined,
      perRun: counts,
    });
  };

  try {
    for (const c of cases) {
      const workflows = [...new Map([c.workflow, c.warmup, c.limited.with, c.limited.without].map((w) => [w.name, w])).values()];
      if (c.name === "wide") workflows.push(mapCase);
      const fleet = await startFleet({ url: server.url, prefix: uniqueId(`b${c.name[0]!}`), workflows, workers, concurrency, ...(options.workerNodeArgs ? { workerNodeArgs: options.workerNodeArgs } : {}) });
      try {
        log(`nats ${c.name}: phaseflow warm-up: ${fmtMs((await fleet.run(c.warmup.name, timeoutMs)).ms)}`);
        await timed(c, "phaseflow", fleet.workerPids, () => fleet.run(c.workflow.name, timeoutMs));
        try {
          for (let r = 1; r <= runs; r++) {
            for (const side of ["without", "with"] as const) {
              const { ms } = await fleet.run(c.limited[side].name, timeoutMs);
              limitedTimes[c.name][side].push(ms);
              log(`nats ${c.name}: phaseflow ${side} limits that never bind (${c.limited.size} ${c.name === "wide" ? "tasks" : "phases"}), run ${r}/${runs}: ${fmtMs(ms)}`);
            }
          }
        } catch (err) {
          // Reported as a goal not met (no figure) rather than losing the rest of the bench.
          log(`nats ${c.name}: the runs with limits that never bind did not finish: ${err instanceof Error ? err.message : String(err)}`);
          limitedTimes[c.name].with = [];
        }
        if (c.name === "wide") {
          for (let r = 1; r <= runs; r++) {
            const { ms, stored: s } = await fleet.run(mapCase.name, timeoutMs);
            mapTimes.push(ms);
            log(`nats map: phaseflow run ${r}/${runs}: ${fmtMs(ms)}; stored ${s.tasks} task messages, ${s.reports} reports, ${s.decisions} decision batches`);
          }
        }
      } finally {
        await fleet.close();
      }

      const base = await startBaseline({ url: server.url, id: uniqueId(`x${c.name[0]!}`), workers, concurrency, planHash: compile(c.workflow).planHash });
      taskBytes = base.taskBytes;
      const once = (size: number): Promise<number> => (c.name === "wide" ? base.wide(size, timeoutMs) : base.chain(size, timeoutMs));
      const counted = async (size: number): Promise<RunOutcome> => {
        const before = await base.lastSeqs();
        const ms = await once(size);
        const after = await base.lastSeqs();
        return { ms, stored: { tasks: after.tasks - before.tasks, reports: after.results - before.results, decisions: 0, kv: 0 } };
      };
      try {
        log(`nats ${c.name}: baseline warm-up: ${fmtMs(await once(c.warmupSize))}`);
        await timed(c, "baseline", base.workerPids, () => counted(c.size));
      } finally {
        await base.close();
      }
    }
  } finally {
    await server.stop();
  }

  const notes = [
    `nats: a fresh nats-server on loopback (file storage); ${workers} worker processes x concurrency ${concurrency} on both sides; coordinator and client (or the baseline dispatcher) in the bench process`,
    `nats: phaseflow times a run from client.start() to its end seen by client.waitForEnd() (which reads the run's decisions, not its reports); the baseline from its first publish to its last result; task messages ~${taskBytes} bytes on both sides`,
  ];
  const comparisons = [
    compare({
      bench: "nats",
      case: `wide: ${wideTasks.toLocaleString("en-US")} no-op tasks in one phase`,
      unit: "tasks/s",
      better: "higher",
      baselineLabel: `raw JetStream: publish every task to a work-queue stream; ${workers} raw-client worker processes pull, publish a result and ack; wait for every result`,
      samples: { phaseflow: timings.wide.phaseflow.map((ms) => perSecond(wideTasks, ms)), baseline: timings.wide.baseline.map((ms) => perSecond(wideTasks, ms)) },
      goal: { op: ">=", value: 0.75 },
      notes,
    }),
    compare({
      bench: "nats",
      case: `map: ${wideTasks.toLocaleString("en-US")} items of one map node`,
      unit: "tasks/s",
      better: "higher",
      baselineLabel: `phaseflow's wide phase above (${wideTasks.toLocaleString("en-US")} tasks) on the same fleet`,
      samples: { phaseflow: mapTimes.map((ms) => perSecond(wideTasks, ms)), baseline: timings.wide.phaseflow.map((ms) => perSecond(wideTasks, ms)) },
      goal: { op: ">=", value: 0.667 },
      notes,
    }),
    compare({
      bench: "nats",
      case: `chain: ${chainPhases} phases of one no-op task`,
      unit: "ms/phase",
      better: "lower",
      baselineLabel: "raw JetStream: publish task k+1 only after result k arrived; same workers and streams",
      samples: { phaseflow: timings.chain.phaseflow.map((ms) => ms / chainPhases), baseline: timings.chain.baseline.map((ms) => ms / chainPhases) },
      goal: { op: "<=", value: 1.5 },
      notes,
    }),
  ];
  // What task limits cost on a fleet when they never bind (the limit gate's KV compare-and-set per attempt): goal at most 10% more.
  comparisons.push(
    compare({
      bench: "nats",
      case: `wide with limits that never bind: ${limitedWide.toLocaleString("en-US")} tasks, each with concurrency and rateLimit`,
      unit: "tasks/s",
      better: "higher",
      baselineLabel: `the same ${limitedWide.toLocaleString("en-US")} tasks without limits, timed in turns on the same fleet`,
      samples: { phaseflow: limitedTimes.wide.with.map((ms) => perSecond(limitedWide, ms)), baseline: limitedTimes.wide.without.map((ms) => perSecond(limitedWide, ms)) },
      goal: { op: ">=", value: 1 / 1.1 },
      notes,
    }),
    compare({
      bench: "nats",
      case: `chain with limits that never bind: ${chainPhases} phases, each task with concurrency and rateLimit`,
      unit: "ms/phase",
      better: "lower",
      baselineLabel: "the same chain without limits, timed in turns on the same fleet",
      samples: { phaseflow: limitedTimes.chain.with.map((ms) => ms / chainPhases), baseline: limitedTimes.chain.without.map((ms) => ms / chainPhases) },
      goal: { op: "<=", value: 1.1 },
      notes,
    }),
  );
  if (cpuTotals.wide.phaseflow.length > 0 && cpuTotals.wide.baseline.length > 0) {
    comparisons.push(
      compare({
        bench: "nats",
        case: `wide: CPU per task of nats-server, coordinator + client and workers together`,
        unit: "CPU ms/task",
        better: "lower",
        baselineLabel: "raw JetStream: nats-server, the dispatcher and the raw workers together, same run",
        samples: { phaseflow: cpuTotals.wide.phaseflow, baseline: cpuTotals.wide.baseline },
        goal: { op: "<=", value: 1.5 },
        notes: ["nats: CPU time from /proc of every process of each side, summed over the timed runs' duration, per task"],
      }),
    );
  }
  const storedNotes = [
    "nats: stored messages counted per timed run: task messages by the <P>_TASKS work-queue stream's last_seq delta (acked ones are removed), phaseflow's decisions and reports by per-subject counts of <p>.evt.<runId>.d / .r in <P>_EVENTS; the baseline's task and result streams by last_seq deltas",
    "nats: hot path = task messages + reports (results); phaseflow's goal is on its own figure (at most 2 per task), the baseline's is 2 by construction",
  ];
  for (const c of cases) {
    const pf = stored.find((s) => s.case === c.name && s.subject === "phaseflow");
    const base = stored.find((s) => s.case === c.name && s.subject === "baseline");
    if (!pf || !base) continue;
    comparisons.push(
      compare({
        bench: "nats",
        case: `${c.name}: stored messages per task on the hot path (task + report)`,
        unit: "msgs/task",
        better: "lower",
        baselineLabel: "raw JetStream: one task message + one result message per task",
        samples: { phaseflow: pf.perRun.map((k) => (k.tasks + k.reports) / pf.tasks), baseline: base.perRun.map((k) => (k.tasks + k.reports) / base.tasks) },
        goal: { op: "<=", value: 2, of: "phaseflow" },
        notes: storedNotes,
      }),
    );
  }
  return { comparisons, cpu, stored, chainMsPerStep: { phaseflow: timings.chain.phaseflow.map((ms) => ms / chainPhases), baseline: timings.chain.baseline.map((ms) => ms / chainPhases) } };
}

/** Print the stored-message counts as a table, per task and per phase. */
export function printStoredMessages(rows: readonly StoredMessages[]): void {
  console.log("\nstored messages per timed run (medians; per task unless said)");
  const headers = ["case", "subject", "tasks", "task msgs", "reports", "hot path", "decisions", "decisions/phase", "all events+tasks", "KV writes"];
  const text = rows.map((r) => [
    r.case,
    r.subject === "baseline" ? "baseline (results as reports)" : r.subject,
    r.tasks.toLocaleString("en-US"),
    sig(r.taskMessages / r.tasks),
    sig(r.reports / r.tasks),
    sig((r.taskMessages + r.reports) / r.tasks),
    `${sig(r.decisions / r.tasks)} (${r.decisions})`,
    sig(r.decisions / r.phases),
    sig((r.taskMessages + r.reports + r.decisions) / r.tasks),
    r.kv === undefined ? "-" : `${sig(r.kv / r.tasks)} (${r.kv})`,
  ]);
  const width = headers.map((h, i) => Math.max(h.length, ...text.map((t) => t[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join("  ");
  console.log([line(headers), width.map((w) => "-".repeat(w)).join("  "), ...text.map(line)].join("\n"));
  console.log("  note: decisions and KV writes also as totals in parentheses; a run's KV writes (summary, lease, indexes) are not part of the hot-path goal");
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
  const { comparisons, cpu, stored } = await runNatsBench();
  printComparisons("fleet over NATS (medians)", comparisons);
  printCpuBreakdown(cpu);
  printStoredMessages(stored);
}
