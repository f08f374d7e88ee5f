// Load with a failure: 100 concurrent runs of a 50-task workflow on 2 workers, while
// one worker is killed (kill -9) and restarted. All 100 runs succeed; none is lost and
// no task has more than one accepted success.
import { describe, expect, it } from "vitest";
import { COORDINATOR, expectOneSucceededPerTask, readExecutions, useFleet } from "./support.js";

describe("faults - load with a worker killed and restarted", () => {
  const fleet = useFleet("fload", {
    coordinators: [COORDINATOR],
    workers: [
      { id: "w1", flags: ["--concurrency", "16"] },
      { id: "w2", flags: ["--concurrency", "16"] },
    ],
  });

  it("faults - 100 concurrent runs of 50 tasks survive a worker kill -9 and restart", async () => {
    const runs = await Promise.all(Array.from({ length: 100 }, (_, i) => fleet.client.start("fifty", { ms: 10 + (i % 5) })));
    // Kill one worker once a fair share of the work is done, then bring it back.
    await expect.poll(() => readExecutions(fleet.log).length, { timeout: 60_000, interval: 100 }).toBeGreaterThan(1500);
    const victim = fleet.processes.find((p) => p.lines.some((l) => l.msg === "worker started" && l.workerId === "w1"))!;
    victim.kill("SIGKILL");
    await victim.exited;
    await fleet.worker("w1-again", ["--concurrency", "16"]);
    let tasks = 0;
    for (const { runId } of runs) {
      const { record, events } = await fleet.finish(runId);
      expect(record.status, `${runId}: ${JSON.stringify(record.error)}`).toBe("succeeded");
      expect(record.tasks).toHaveLength(50);
      expectOneSucceededPerTask(events, record);
      tasks += record.tasks.length;
    }
    expect(tasks).toBe(5000);
    const byRun = new Set(readExecutions(fleet.log).map((e) => e.runId));
    for (const { runId } of runs) expect(byRun.has(runId)).toBe(true);
  }, 300_000);
});
