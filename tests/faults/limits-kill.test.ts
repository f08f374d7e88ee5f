// README "Traffic control" through kill -9: 2 coordinators and 2 workers, 20 runs of a task
// limited to 2 in flight per key; a coordinator and a worker are killed mid-way. Every run
// succeeds, and the executors' own log never shows more than 2 of one key overlapping (an
// execution on a killed worker counts as running until its process died).
import { describe, expect, it } from "vitest";
import { twoCoordinators, useFleet, waitForExecution } from "./support.js";
import { mostOverlapping, spans } from "./limit-spans.js";

describe("faults - task limits through kill -9", () => {
  const fleet = useFleet("flim", twoCoordinators("lim-a", "lim-b"));

  it("faults - 20 runs limited to 2 per key: kill -9 of a coordinator and of a worker mid-way, every run succeeds and no key ever has more than 2 in flight", async () => {
    const keys = ["acme", "zeta"];
    const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => fleet.client.start("limited", { key: keys[i % 2]!, ms: 600 })));
    // Mid-way: a few executions have begun.
    await waitForExecution(fleet.log, runs[3]!.runId, () => true, 60_000);
    const coordinator = fleet.coordinators[0]!;
    coordinator.kill("SIGKILL");
    const started = spans(fleet.log).filter((s) => s.end === undefined);
    const victim = [...fleet.workers.values()].find((w) => started.some((s) => s.pid === w.pid)) ?? fleet.workers.get("w1")!;
    const killedAt = Date.now();
    victim.kill("SIGKILL");
    // Both are gone before any API request is sent: a request delivered to the dying
    // coordinator in its last instant would wait out the client's timeout.
    await Promise.all([coordinator.exited, victim.exited]);
    const records = await Promise.all(runs.map(async ({ runId }) => (await fleet.finish(runId)).record));
    expect(records.map((r) => r.status)).toEqual(records.map(() => "succeeded"));
    const all = spans(fleet.log);
    // Only the killed worker leaves executions without an end.
    expect(new Set(all.filter((x) => x.end === undefined).map((x) => x.pid)).size).toBeLessThanOrEqual(1);
    const most = mostOverlapping(all, killedAt);
    expect(Math.max(...most.values())).toBeLessThanOrEqual(2);
    // The limit did bind: both keys had 2 at once.
    expect(most.get("acme")).toBe(2);
    expect(most.get("zeta")).toBe(2);
  }, 240_000);
});
