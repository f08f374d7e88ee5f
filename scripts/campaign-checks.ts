// What every scenario of the fault campaign (campaign.ts, campaign-abuse.ts) shares:
// its result, a seeded PRNG, and the check of every run's record and stored history.
import { acceptedSuccesses, taskKey, type Fleet } from "../tests/faults/fleet.js";
import type { Decision, RunEvent } from "../src/transport/messages.js";
import type { RunRecord } from "../src/runtime/core/run-record-schema.js";

export type Scenario = "kill9" | "zombie" | "stall" | "forge" | "web";
export const SCENARIOS: readonly Scenario[] = ["kill9", "zombie", "stall", "forge", "web"];

export interface Result {
  scenario: Scenario;
  runs: number;
  succeeded: number;
  faults: number;
  problems: string[];
  seconds: number;
}

/** A small seeded PRNG (mulberry32), so a campaign can be run again with the same choices. */
export { mulberry32 as prng } from "../workers/lib/prng.js";

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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

/**
 * Call `fn` again while it fails with a retryable error (an API request that timed out while
 * the coordinators were being killed and restarted), until the deadline.
 */
export async function retrying<T>(deadline: number, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!(err as { retryable?: boolean }).retryable || Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

/** Follow every run to its end (or the deadline), then check each one's record and history. */
export async function checkRuns(fleet: Fleet, runIds: readonly string[], deadline: number, fencing: boolean): Promise<{ succeeded: number; problems: string[] }> {
  const problems: string[] = [];
  let succeeded = 0;
  for (const runId of runIds) {
    const ended = await Promise.race([
      (async () => {
        return retrying(deadline, async () => {
          for await (const _ of fleet.client.follow(runId)) void _;
          return true;
        });
      })(),
      sleep(Math.max(0, deadline - Date.now())).then(() => false),
    ]);
    if (!ended) {
      // Past the deadline: a run that ended meanwhile is checked like the others (the wait
      // for an earlier, wedged run may have used the time up); one still going is wedged.
      const record = await fleet.client.get(runId).catch(() => undefined);
      if (!record || record.status === "running" || record.status === "pending") {
        const open = record?.tasks.filter((t) => t.status !== "succeeded").map((t) => `${taskKey(t)} ${t.status}`) ?? [];
        const tail = (await fleet.history(runId).catch(() => [] as RunEvent[])).slice(-6).map((e) => JSON.stringify(e).slice(0, 300));
        const logs = fleet.processes.flatMap((p) => p.lines.filter((l) => l.runId === runId).map((l) => `pid ${p.pid}: ${JSON.stringify(l).slice(0, 300)}`)).slice(-12);
        problems.push(`${runId}: did not end before the campaign's deadline (wedged): ${record?.status ?? "unreadable"}; ${open.join(", ")}\n    last events:\n    ${tail.join("\n    ")}\n    logs:\n    ${logs.join("\n    ")}`);
        continue;
      }
    }
    const record = await retrying(deadline, () => fleet.client.get(runId));
    const events = await retrying(deadline, () => fleet.history(runId));
    const found = runProblems(runId, record, events);
    if (fencing) {
      const messages = (await retrying(deadline, () => fleet.client.transport.readHistory(runId))).messages;
      found.push(...writerProblems(runId, messages.flatMap((m) => (m.message.kind === "decision" ? [m.message] : []))));
    }
    if (found.length === 0) succeeded++;
    problems.push(...found);
  }
  return { succeeded, problems };
}

