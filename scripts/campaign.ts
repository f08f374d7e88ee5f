// The fault campaign: many runs on a real fleet (nats-server, coordinator and worker
// processes) while something keeps breaking it, then a check of every run's stored
// history. It is what the fault tests do once, done many times at random, to count.
//
//   npx tsx scripts/campaign.ts [kill9|zombie|stall|all] [--runs N] [--seed S]
//
// - kill9:  two coordinators and three workers; every 1-3 s one of them (at random) is
//           killed with SIGKILL and started again, while runs of three workflows go on.
// - zombie: two coordinators; one is paused (SIGSTOP) past its lease while it holds runs,
//           the other takes them over, then the paused one wakes (SIGCONT) and must change
//           nothing; rounds alternate between the two.
// - stall:  nats-server itself is paused for 10 s mid-run, then resumed.
//
// Every run must succeed, with exactly one accepted success per task (no duplicate
// verdict), and on the zombie rounds one writer per epoch. The script prints one line per
// scenario and exits 1 if any run broke a rule. It is not part of `npm test`: it takes
// minutes and its point is the count over many runs, not one assertion.
import { startNatsServer, type NatsServer } from "../tests/support/nats-server.js";
import { acceptedSuccesses, Fleet, newExecutionLog, taskKey, type FleetSpec } from "../tests/faults/fleet.js";
import type { PhaseflowProcess } from "../tests/support/processes.js";
import type { Decision, RunEvent } from "../src/transport/messages.js";
import type { RunRecord } from "../src/runtime/core/run-record-schema.js";

type Scenario = "kill9" | "zombie" | "stall";
const SCENARIOS: readonly Scenario[] = ["kill9", "zombie", "stall"];

interface Result {
  scenario: Scenario;
  runs: number;
  succeeded: number;
  faults: number;
  problems: string[];
  seconds: number;
}

/** A small seeded PRNG (mulberry32), so a campaign can be run again with the same choices. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What is wrong with one finished run: not succeeded, a task with no or several accepted successes. */
function runProblems(runId: string, record: RunRecord, events: readonly RunEvent[]): string[] {
  const problems: string[] = [];
  if (record.status !== "succeeded") problems.push(`${runId}: ${record.status}${record.error ? ` (${record.error.code}: ${record.error.message})` : ""}`);
  const counts = acceptedSuccesses(events);
  for (const t of record.tasks) {
    if (t.instances) continue; // a map node succeeds through its instances
    const n = counts.get(taskKey(t)) ?? 0;
    if (n !== 1) problems.push(`${runId}: ${taskKey(t)} has ${n} accepted successes`);
  }
  return problems;
}

/** Each epoch of a run has one writer, and the writer changes only at a batch that claims the run at a higher epoch. */
function writerProblems(runId: string, decisions: readonly Decision[]): string[] {
  const problems: string[] = [];
  const byEpoch = new Map<number, Set<string>>();
  for (const d of decisions) byEpoch.set(d.epoch, (byEpoch.get(d.epoch) ?? new Set()).add(d.by));
  for (const [epoch, writers] of byEpoch) if (writers.size > 1) problems.push(`${runId}: epoch ${epoch} has writers ${[...writers].join(", ")}`);
  for (let i = 1; i < decisions.length; i++) {
    const prev = decisions[i - 1]!;
    const d = decisions[i]!;
    if (d.epoch < prev.epoch) problems.push(`${runId}: epoch went back ${prev.epoch} -> ${d.epoch}`);
    const claimed = d.events.some((e) => e.type === "run.claimed");
    if ((d.by !== prev.by || d.epoch !== prev.epoch) && !claimed) problems.push(`${runId}: batch ${i} changes writer without claiming the run`);
  }
  return problems;
}

/** Follow every run to its end (or the deadline), then check each one's record and history. */
async function checkRuns(fleet: Fleet, runIds: readonly string[], deadline: number, fencing: boolean): Promise<{ succeeded: number; problems: string[] }> {
  const problems: string[] = [];
  let succeeded = 0;
  for (const runId of runIds) {
    const ended = await Promise.race([
      (async () => {
        for await (const _ of fleet.client.follow(runId)) void _;
        return true;
      })(),
      sleep(Math.max(0, deadline - Date.now())).then(() => false),
    ]);
    if (!ended) {
      problems.push(`${runId}: did not end before the campaign's deadline (wedged?)`);
      continue;
    }
    const record = await fleet.client.get(runId);
    const events = await fleet.history(runId);
    const found = runProblems(runId, record, events);
    if (fencing) {
      const messages = (await fleet.client.transport.readHistory(runId)).messages;
      found.push(...writerProblems(runId, messages.flatMap((m) => (m.message.kind === "decision" ? [m.message] : []))));
    }
    if (found.length === 0) succeeded++;
    problems.push(...found);
  }
  return { succeeded, problems };
}

async function kill9(server: NatsServer, runs: number, random: () => number): Promise<Result> {
  const started = Date.now();
  const spec: FleetSpec = {
    coordinators: [
      ["--lease-ms", "2000", "--id", "c-a"],
      ["--lease-ms", "2000", "--id", "c-b"],
    ],
    workers: ["w1", "w2", "w3"].map((id) => ({ id, flags: ["--concurrency", "6"] })),
  };
  const fleet = new Fleet(server.url, "ckill", newExecutionLog());
  await fleet.start(spec);
  const alive = new Map<string, { proc: PhaseflowProcess; restart: () => Promise<PhaseflowProcess> }>();
  fleet.coordinators.forEach((p, i) => alive.set(`c${i}`, { proc: p, restart: () => fleet.coordinator(spec.coordinators![i]) }));
  for (const [id, p] of fleet.workers) alive.set(id, { proc: p, restart: () => fleet.worker(id, ["--concurrency", "6"]) });
  let kills = 0;
  let chaos = true;
  const chaosLoop = (async () => {
    while (chaos) {
      await sleep(1000 + random() * 2000);
      if (!chaos) break;
      const names = [...alive.keys()];
      const name = names[Math.floor(random() * names.length)]!;
      const victim = alive.get(name)!;
      victim.proc.kill("SIGKILL");
      await victim.proc.exited;
      kills++;
      alive.set(name, { proc: await victim.restart(), restart: victim.restart });
    }
  })();
  const runIds: string[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const pick = i % 3;
      const { runId } =
        pick === 0 ? await fleet.client.start("fifty", { ms: 20 }) : pick === 1 ? await fleet.client.start("long-wide", { ms: 1500 }) : await fleet.client.start("long-map", { ms: 800, n: 4 });
      runIds.push(runId);
      if (i % 10 === 9) await sleep(1500); // waves, so kills land mid-run rather than only on a queue
    }
    const deadline = Date.now() + Math.max(300_000, runs * 5_000);
    // Keep breaking things while the runs go on, then let the fleet finish in peace.
    const firstHalf = checkRuns(fleet, runIds.slice(0, Math.floor(runIds.length / 2)), deadline, false);
    const done = await firstHalf;
    chaos = false;
    await chaosLoop;
    const rest = await checkRuns(fleet, runIds.slice(Math.floor(runIds.length / 2)), deadline, false);
    return { scenario: "kill9", runs, succeeded: done.succeeded + rest.succeeded, faults: kills, problems: [...done.problems, ...rest.problems], seconds: (Date.now() - started) / 1000 };
  } finally {
    chaos = false;
    await chaosLoop.catch(() => undefined);
    await fleet.close();
  }
}

async function zombie(server: NatsServer, runs: number): Promise<Result> {
  const started = Date.now();
  const lease = ["--lease-ms", "1500"];
  const fleet = new Fleet(server.url, "czombie", newExecutionLog());
  await fleet.start({ coordinators: [[...lease, "--id", "c-a"], [...lease, "--id", "c-b"]], workers: ["w1", "w2"].map((id) => ({ id, flags: ["--concurrency", "8"] })) });
  const runIds: string[] = [];
  let pauses = 0;
  try {
    const perRound = 5;
    for (let round = 0; runIds.length < runs; round++) {
      const batch = await Promise.all(Array.from({ length: Math.min(perRound, runs - runIds.length) }, () => fleet.client.start("long-wide", { ms: 3000 })));
      runIds.push(...batch.map((r) => r.runId));
      await sleep(800); // the runs are claimed and their long tasks dispatched
      const zombieProc = fleet.coordinators[round % 2]!;
      zombieProc.kill("SIGSTOP");
      pauses++;
      await sleep(5000); // past its lease: the other one takes its runs over
      zombieProc.kill("SIGCONT");
    }
    const res = await checkRuns(fleet, runIds, Date.now() + Math.max(300_000, runs * 5_000), true);
    return { scenario: "zombie", runs, succeeded: res.succeeded, faults: pauses, problems: res.problems, seconds: (Date.now() - started) / 1000 };
  } finally {
    for (const c of fleet.coordinators) c.kill("SIGCONT");
    await fleet.close();
  }
}

async function stall(server: NatsServer, runs: number): Promise<Result> {
  const started = Date.now();
  const fleet = new Fleet(server.url, "cstall", newExecutionLog());
  await fleet.start({ coordinators: [["--lease-ms", "2000"]], workers: ["w1", "w2"].map((id) => ({ id, flags: ["--concurrency", "8"] })) });
  const runIds: string[] = [];
  let stalls = 0;
  try {
    for (let i = 0; i < runs; i++) {
      const { runId } = await fleet.client.start("long-wide", { ms: 1500 });
      runIds.push(runId);
      await sleep(1000);
      process.kill(server.pid, "SIGSTOP");
      stalls++;
      await sleep(10_000);
      process.kill(server.pid, "SIGCONT");
    }
    const res = await checkRuns(fleet, runIds, Date.now() + Math.max(300_000, runs * 20_000), false);
    return { scenario: "stall", runs, succeeded: res.succeeded, faults: stalls, problems: res.problems, seconds: (Date.now() - started) / 1000 };
  } finally {
    process.kill(server.pid, "SIGCONT");
    await fleet.close();
  }
}

function parseArgs(argv: readonly string[]): { scenarios: Scenario[]; runs: number | undefined; seed: number } {
  const scenarios: Scenario[] = [];
  let runs: number | undefined;
  let seed = Date.now() % 1_000_000;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--runs") runs = Number(argv[++i]);
    else if (a === "--seed") seed = Number(argv[++i]);
    else if (a === "all") scenarios.push(...SCENARIOS);
    else if ((SCENARIOS as readonly string[]).includes(a)) scenarios.push(a as Scenario);
    else throw new Error(`unknown argument "${a}": give ${SCENARIOS.join(", ")} or all, and optionally --runs N --seed S`);
  }
  if (runs !== undefined && !(Number.isInteger(runs) && runs > 0)) throw new Error("--runs must be a positive integer");
  return { scenarios: scenarios.length ? scenarios : [...SCENARIOS], runs, seed };
}

async function main(): Promise<void> {
  const { scenarios, runs, seed } = parseArgs(process.argv.slice(2));
  console.log(`fault campaign: ${scenarios.join(", ")} (seed ${seed})`);
  const random = prng(seed);
  const results: Result[] = [];
  for (const scenario of scenarios) {
    // A server per scenario: a stalled or crowded store never carries over.
    const server = await startNatsServer();
    try {
      const r = scenario === "kill9" ? await kill9(server, runs ?? 60, random) : scenario === "zombie" ? await zombie(server, runs ?? 20) : await stall(server, runs ?? 3);
      results.push(r);
      const faultName = scenario === "kill9" ? "kill -9s" : scenario === "zombie" ? "coordinator pauses past the lease" : "10 s nats-server stalls";
      console.log(`${scenario}: ${r.succeeded}/${r.runs} runs succeeded with one accepted success per task, through ${r.faults} ${faultName}, in ${r.seconds.toFixed(0)} s`);
      for (const p of r.problems) console.log(`  ${p}`);
    } finally {
      await server.stop();
    }
  }
  process.exitCode = results.every((r) => r.problems.length === 0) ? 0 : 1;
}

await main();
