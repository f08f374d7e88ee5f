/**
 * Cluster bench: the cost of replication. A 3-node nats-server cluster on loopback
 * (tests/support/nats-cluster.ts); on it, for the wide and the chain shape of the NATS
 * bench (bench/nats.ts, smaller sizes so the whole bench stays around a minute or two):
 *   phaseflow with 3 replicas (`--replicas 3`: PF_TASKS, PF_EVENTS and the KV buckets R3),
 *   phaseflow with 1 replica on the same cluster,
 *   raw JetStream with 3 replicas (bench/nats-baseline.ts, the tasks and results streams R3),
 * all in one run. Two rows per shape: phaseflow R3 against raw JetStream R3 (what the
 * engine costs on a replicated cluster), and phaseflow R3 against phaseflow R1 (what
 * replication costs phaseflow). Every process connects with all three URLs, so the
 * coordinator and the workers land on random nodes, as in a deployment. Medians.
 *
 * Run: `npx tsx bench/nats-cluster.ts`. `bench/run.ts` calls `runClusterBench()` (`--only cluster`).
 */
import { randomBytes } from "node:crypto";
import { pathToFileURL } from "node:url";
import { compile } from "../src/compiler/compile.js";
import type { Workflow } from "../src/dsl/workflow.js";
import { startNatsCluster } from "../tests/support/nats-cluster.js";
import { compare, perSecond, printComparisons, type Comparison } from "./lib/compare.js";
import { chainWorkflow, wideWorkflow } from "./lib/workflows.js";
import { startBaseline } from "./nats-baseline.js";
import { startFleet } from "./nats-engine.js";

export interface ClusterBenchOptions {
  /** Tasks in the wide phase. Default 5,000. */
  wideTasks?: number;
  /** Phases in the chain. Default 100. */
  chainPhases?: number;
  /** Worker processes. Default 2. */
  workers?: number;
  /** Tasks each worker runs at once. Default 128. */
  concurrency?: number;
  /** Timed runs per subject and case. Default 2. */
  runs?: number;
  /** Limit of one run, ms. Default 180000. */
  runTimeoutMs?: number;
  log?: (line: string) => void;
}

type Subject = "phaseflow R3" | "phaseflow R1" | "raw JetStream R3";

/**
 * Run the cluster bench.
 * @example
 * const comparisons = await runClusterBench({ runs: 1, wideTasks: 1_000 });
 * printComparisons("cluster", comparisons);
 */
export async function runClusterBench(options: ClusterBenchOptions = {}): Promise<Comparison[]> {
  const wideTasks = options.wideTasks ?? 5_000;
  const chainPhases = options.chainPhases ?? 100;
  const workers = options.workers ?? 2;
  const concurrency = options.concurrency ?? 128;
  const runs = options.runs ?? 2;
  const timeoutMs = options.runTimeoutMs ?? 180_000;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const warmWide = Math.max(1, Math.round(wideTasks / 10));
  const chain = chainWorkflow(chainPhases);
  const cases = [
    { name: "wide" as const, workflow: wideWorkflow(wideTasks), warmup: wideWorkflow(warmWide), size: wideTasks, warmupSize: warmWide },
    { name: "chain" as const, workflow: chain, warmup: chain, size: chainPhases, warmupSize: chainPhases },
  ];
  const ms: Record<"wide" | "chain", Record<Subject, number[]>> = {
    wide: { "phaseflow R3": [], "phaseflow R1": [], "raw JetStream R3": [] },
    chain: { "phaseflow R3": [], "phaseflow R1": [], "raw JetStream R3": [] },
  };

  const cluster = await startNatsCluster();
  log(`cluster bench: 3 nats-servers (${cluster.urls}); ${workers} workers x concurrency ${concurrency}; ${runs} timed runs per subject`);
  try {
    for (const c of cases) {
      for (const replicas of [3, 1]) {
        const subject: Subject = replicas === 3 ? "phaseflow R3" : "phaseflow R1";
        const workflows: Workflow<unknown>[] = c.warmup === c.workflow ? [c.workflow] : [c.workflow, c.warmup];
        const fleet = await startFleet({ url: cluster.urls, replicas, prefix: uniqueId(`c${c.name[0]!}${replicas}`), workflows, workers, concurrency });
        try {
          await fleet.run(c.warmup.name, timeoutMs);
          for (let r = 1; r <= runs; r++) {
            const run = await fleet.run(c.workflow.name, timeoutMs);
            ms[c.name][subject].push(run.ms);
            log(`cluster ${c.name}: ${subject} run ${r}/${runs}: ${Math.round(run.ms)} ms`);
          }
        } finally {
          await fleet.close();
        }
      }
      const base = await startBaseline({ url: cluster.urls, replicas: 3, id: uniqueId(`y${c.name[0]!}`), workers, concurrency, planHash: compile(c.workflow).planHash });
      const once = (size: number): Promise<number> => (c.name === "wide" ? base.wide(size, timeoutMs) : base.chain(size, timeoutMs));
      try {
        await once(c.warmupSize);
        for (let r = 1; r <= runs; r++) {
          const t = await once(c.size);
          ms[c.name]["raw JetStream R3"].push(t);
          log(`cluster ${c.name}: raw JetStream R3 run ${r}/${runs}: ${Math.round(t)} ms`);
        }
      } finally {
        await base.close();
      }
    }
  } finally {
    await cluster.stop();
  }

  const notes = [
    `cluster: 3 nats-servers on loopback (file storage), all on this machine; ${workers} worker processes x concurrency ${concurrency}; coordinator and client in the bench process; every connection lists all three URLs`,
    "cluster: R3 = every stream and KV bucket with 3 Raft replicas (a publish is acked once a majority stored it); R1 = one copy, on one node of the same cluster",
  ];
  const wide = (s: Subject): number[] => ms.wide[s].map((t) => perSecond(wideTasks, t));
  const chainMs = (s: Subject): number[] => ms.chain[s].map((t) => t / chainPhases);
  const wideCase = `wide: ${wideTasks.toLocaleString("en-US")} no-op tasks in one phase`;
  const chainCase = `chain: ${chainPhases} phases of one no-op task`;
  return [
    compare({ bench: "cluster", case: `${wideCase}, R3`, unit: "tasks/s", better: "higher", baselineLabel: "raw JetStream with R3 streams, same messaging", samples: { phaseflow: wide("phaseflow R3"), baseline: wide("raw JetStream R3") }, notes }),
    compare({ bench: "cluster", case: `${wideCase}, R3 vs R1`, unit: "tasks/s", better: "higher", baselineLabel: "phaseflow with R1 on the same cluster", samples: { phaseflow: wide("phaseflow R3"), baseline: wide("phaseflow R1") }, notes }),
    compare({ bench: "cluster", case: `${chainCase}, R3`, unit: "ms/phase", better: "lower", baselineLabel: "raw JetStream with R3 streams: task k+1 after result k", samples: { phaseflow: chainMs("phaseflow R3"), baseline: chainMs("raw JetStream R3") }, notes }),
    compare({ bench: "cluster", case: `${chainCase}, R3 vs R1`, unit: "ms/phase", better: "lower", baselineLabel: "phaseflow with R1 on the same cluster", samples: { phaseflow: chainMs("phaseflow R3"), baseline: chainMs("phaseflow R1") }, notes }),
  ];
}

function uniqueId(kind: string): string {
  return `${kind}${randomBytes(3).toString("hex")}`;
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) printComparisons("NATS cluster: replication cost (medians)", await runClusterBench());
