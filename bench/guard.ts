/**
 * What the workers' stray-error guard (src/worker/stray-errors.ts) costs, A/B in one run:
 * the NATS wide case (one phase of no-op tasks, 2 worker processes x 128 in flight)
 * on fleets that differ only in the guard, next to raw JetStream doing the same
 * messaging (bench/nats-baseline.ts) on the same server:
 *   guard off:  `phaseflow worker --no-stray-guard`;
 *   old guard:  the guard as it was, its AsyncLocalStorage enabled for the whole life
 *               of the process (preload bench/fixtures/always-on-als.ts: the same
 *               promise hooks on every promise, which is the whole of its cost);
 *   new guard:  the default, the scope on only while an executor call is under way.
 * Twice: with `bench/noop` returning at once (bench/fixtures/noop-executors.ts), and
 * with it awaiting a 1 ms timer (bench/fixtures/waiting-executors.ts), where some
 * executor call is always under way and the new guard keeps its hooks on too.
 * Every fleet stays up for all rounds; each round runs every subject once, in a
 * rotating order, so drift of a loaded machine spreads over all of them. Medians.
 * Two figures per subject: tasks/s (wall time: on a loaded machine it swings with
 * what else runs), and the CPU ms per task of the 2 worker processes together, which
 * is where the guard's cost lands and which the machine's load moves far less.
 *
 *   npx tsx bench/guard.ts [--tasks 10000] [--rounds 5] [--executor returning|waiting] [--profile DIR] [--quick]
 *
 * `--profile DIR` writes CPU profiles of phaseflow's workers to DIR/<executor>-<variant>/
 * (summarise them with `npx tsx bench/lib/cpu-profile.ts DIR/<executor>-<variant>/*.cpuprofile`:
 * the promise hooks show as node:internal/async_hooks and promise_hooks self time).
 */
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { compile } from "../src/compiler/compile.js";
import { startNatsServer } from "../tests/support/nats-server.js";
import { compare, perSecond, printComparisons, type Comparison } from "./lib/compare.js";
import { cpuDeltaMs, snapshotCpu } from "./lib/process-cpu.js";
import { wideWorkflow } from "./lib/workflows.js";
import { startBaseline } from "./nats-baseline.js";
import { startFleet, type Fleet } from "./nats-engine.js";

const { values } = parseArgs({ options: { tasks: { type: "string" }, rounds: { type: "string" }, executor: { type: "string" }, profile: { type: "string" }, quick: { type: "boolean", default: false } } });
const tasks = Number(values.tasks ?? (values.quick ? 2_000 : 10_000));
const rounds = Number(values.rounds ?? (values.quick ? 1 : 5));
if (!Number.isInteger(tasks) || tasks < 1 || !Number.isInteger(rounds) || rounds < 1) {
  console.error("--tasks and --rounds must be whole numbers >= 1");
  process.exit(2);
}
const workers = 2;
const concurrency = 128;
const timeoutMs = 180_000;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

const VARIANTS = [
  { id: "off", name: "guard off", workerArgs: ["--no-stray-guard"], workerNodeArgs: [] },
  { id: "old", name: "old guard (ALS always on)", workerArgs: [], workerNodeArgs: ["--import", "./bench/fixtures/always-on-als.ts"] },
  { id: "new", name: "new guard (default)", workerArgs: [], workerNodeArgs: [] },
] as const;
const EXECUTORS = [
  { id: "returning", name: "returning at once", module: "bench/fixtures/noop-executors.ts" },
  { id: "waiting", name: "awaiting a 1 ms timer", module: "bench/fixtures/waiting-executors.ts" },
].filter((e) => values.executor === undefined || e.id === values.executor);
if (EXECUTORS.length === 0) {
  console.error(`--executor "${values.executor}": choose returning or waiting`);
  process.exit(2);
}
const profileDir = values.profile === undefined ? undefined : resolve(values.profile);

const wide = wideWorkflow(tasks);
const warmTasks = Math.max(1, Math.round(tasks / 10));
const warm = wideWorkflow(warmTasks);
const server = await startNatsServer();
log(`guard bench: nats-server on ${server.url}; ${workers} workers x ${concurrency}; ${tasks} tasks; ${rounds} rounds`);
const comparisons: Comparison[] = [];
const cpuComparisons: Comparison[] = [];
try {
  for (const exec of EXECUTORS) {
    const fleets: Fleet[] = [];
    const base = await startBaseline({ url: server.url, id: `xg${randomBytes(3).toString("hex")}`, workers, concurrency, planHash: compile(wide).planHash });
    try {
      for (const v of VARIANTS) {
        fleets.push(await startFleet({ url: server.url, prefix: `bg${randomBytes(3).toString("hex")}`, workflows: [wide, warm], workers, concurrency, workerArgs: v.workerArgs, workerNodeArgs: [...v.workerNodeArgs, ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}/${exec.id}-${v.id}`] : [])], executors: exec.module }));
      }
      await base.wide(warmTasks, timeoutMs);
      for (const f of fleets) await f.run(warm.name, timeoutMs);
      const samples: number[][] = VARIANTS.map(() => []);
      const baseline: number[] = [];
      const cpuSamples: number[][] = VARIANTS.map(() => []);
      const cpuBaseline: number[] = [];
      for (let r = 0; r < rounds; r++) {
        // Subject 0 is raw JetStream, 1.. the variants; the order rotates each round.
        for (let k = 0; k <= VARIANTS.length; k++) {
          const s = (k + r) % (VARIANTS.length + 1);
          const pids = { workers: s === 0 ? base.workerPids : fleets[s - 1]!.workerPids };
          const before = snapshotCpu(pids);
          const ms = s === 0 ? await base.wide(tasks, timeoutMs) : (await fleets[s - 1]!.run(wide.name, timeoutMs)).ms;
          const cpu = cpuDeltaMs(before, snapshotCpu(pids)).workers;
          (s === 0 ? baseline : samples[s - 1]!).push(perSecond(tasks, ms));
          if (cpu !== undefined) (s === 0 ? cpuBaseline : cpuSamples[s - 1]!).push(cpu / tasks);
          log(`guard ${exec.name}: round ${r + 1}/${rounds}: ${s === 0 ? "raw JetStream" : VARIANTS[s - 1]!.name}: ${Math.round(ms)} ms, workers' CPU ${cpu === undefined ? "?" : Math.round(cpu)} ms`);
        }
      }
      for (const [i, v] of VARIANTS.entries()) {
        comparisons.push(
          compare({
            bench: "guard",
            case: `wide ${tasks.toLocaleString("en-US")}, executor ${exec.name}: ${v.name}`,
            unit: "tasks/s",
            better: "higher",
            baselineLabel: "raw JetStream, same messaging, 2 raw-client workers x 128, same rounds",
            samples: { phaseflow: samples[i]!, baseline },
          }),
        );
        if (cpuBaseline.length > 0) {
          cpuComparisons.push(
            compare({
              bench: "guard",
              case: `wide ${tasks.toLocaleString("en-US")}, executor ${exec.name}: ${v.name}`,
              unit: "worker CPU ms/task",
              better: "lower",
              baselineLabel: "raw JetStream's 2 worker processes, same rounds",
              samples: { phaseflow: cpuSamples[i]!, baseline: cpuBaseline },
            }),
          );
        }
      }
    } finally {
      await Promise.all(fleets.map((f) => f.close()));
      await base.close();
    }
  }
} finally {
  await server.stop();
}
printComparisons("stray-error guard A/B: NATS wide vs raw JetStream, tasks/s (medians of rounds run in the same process)", comparisons);
if (cpuComparisons.length > 0) printComparisons("the same runs: CPU ms per task of the 2 worker processes (medians; ratio > 1 is more CPU than raw JetStream's workers)", cpuComparisons);
