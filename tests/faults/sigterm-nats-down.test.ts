// SIGTERM once nats-server is gone: `coordinator`, `worker`, `run --nats` and `follow`
// each exit once their --drain-timeout is up, instead of waiting forever for a
// connection that cannot drain. What shows it is each process's own word (it gave up on
// the drain after the 3000 ms it was given) and its exit; the time seen
// from outside only has to rule out "forever" and the 10 s default, with slack for a
// loaded machine (a poll from outside once read 3004 ms for a process that had honoured 3000).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { spawnPhaseflow, startCoordinatorProcess, startWorkerProcess, stopAll, type LogLine, type PhaseflowProcess } from "../support/processes.js";

const PREFIX = "fsigterm";
const WORKFLOWS = "tests/fixtures/run/workflows.ts";
const EXECUTORS = "tests/fixtures/run/executors.ts";
const DRAIN_MS = 3000;
/** How much later than its drain timeout a process may be seen gone on a loaded machine (below the 10 s default, which it must not have used). */
const SLACK_MS = 5000;
/** What a process logs when its drain timeout is up (src/cli/shutdown.ts). */
const GAVE_UP = /not closed within the drain timeout .*exiting anyway/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitGone(pid: number, withinMs: number): Promise<number> {
  const t0 = Date.now();
  while (alive(pid)) {
    if (Date.now() - t0 > withinMs) return Number.POSITIVE_INFINITY;
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

describe("faults - SIGTERM with NATS down", () => {
  let server: NatsServer;
  const processes: PhaseflowProcess[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
  }, 60_000);
  afterAll(async () => {
    for (const p of processes) if (alive(p.pid)) p.kill("SIGKILL");
    await stopAll(processes, 1000);
    await server?.stop();
  }, 60_000);

  it("faults - coordinator, worker, run --nats and follow exit within their drain timeout after nats-server died", async () => {
    const drain = ["--drain-timeout", String(DRAIN_MS)];
    const fleet = ["--nats", server.url, "--prefix", PREFIX];
    const [coordinator, worker] = await Promise.all([startCoordinatorProcess(server.url, PREFIX, [WORKFLOWS], drain), startWorkerProcess(server.url, PREFIX, [EXECUTORS], drain)]);
    processes.push(coordinator, worker);
    const run = spawnPhaseflow(["run", "--workflow", "slow", ...fleet, ...drain]);
    processes.push(run);
    // Live signals of the running attempt (not stored): started after 200 ms, then heartbeats.
    const live = (l: LogLine): boolean => l.event === "attempt.started" || l.event === "attempt.progress" || l.event === "attempt.heartbeat";
    const progress = await run.waitForLog(live);
    const follow = spawnPhaseflow(["follow", String(progress.runId), ...fleet, ...drain]);
    processes.push(follow);
    // The follower has read the history up to the running attempt.
    await follow.waitForLog((l) => l.event === "task.dispatched");

    await server.stop();
    await new Promise((r) => setTimeout(r, 500));
    const all = { coordinator, worker, run, follow };
    for (const p of Object.values(all)) expect(alive(p.pid)).toBe(true);
    for (const p of Object.values(all)) p.kill("SIGTERM");
    const took = await Promise.all(Object.values(all).map((p) => waitGone(p.pid, DRAIN_MS + 20_000)));
    const byName = Object.fromEntries(Object.keys(all).map((k, i) => [k, took[i]]));
    for (const [name, ms] of Object.entries(byName)) {
      const p = all[name as keyof typeof all];
      const why = `${name} took ${ms} ms; drain timeout ${DRAIN_MS} ms\n${p.output().slice(-2000)}`;
      expect(ms, why).toBeLessThanOrEqual(DRAIN_MS + SLACK_MS);
      // With the server gone nothing can drain: each gave up once, on the timeout it was given (not the default).
      const gaveUp = p.lines.filter((l) => typeof l.msg === "string" && GAVE_UP.test(l.msg));
      expect(gaveUp.map((l) => l.timeoutMs), why).toEqual([DRAIN_MS]);
    }
    expect(run.output()).toContain(`stopped following run ${String(progress.runId)}`);
  }, 180_000);
});
