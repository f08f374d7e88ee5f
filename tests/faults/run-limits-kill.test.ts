// README "Traffic control", workflow concurrency through kill -9: 2 coordinators and 2
// workers, runs limited to 1 in flight per key with onLimit "queue". A coordinator is
// killed while most runs are queued (some of them held by it). Every run still runs and
// succeeds, and the executors' own log never shows 2 runs of one key overlapping.
import { describe, expect, it } from "vitest";
import { tookOver, twoCoordinators, useFleet, waitForExecution } from "./support.js";
import { mostOverlapping, spans } from "./limit-spans.js";

describe("faults - workflow concurrency through kill -9", () => {
  const fleet = useFleet("frunlim", twoCoordinators("rl-a", "rl-b"));

  it("faults - runs queued one per key: kill -9 of a coordinator while runs are queued, every queued run still runs and no key ever has 2 in flight", async () => {
    const keys = ["ann", "ann", "ann", "ann", "ann", "ann", "bob", "bob", "bob"];
    const runs = [];
    for (const key of keys) runs.push(await fleet.client.start("serialized", { key, ms: 400 }));
    // Both keys have a run executing; the rest are queued, spread over both coordinators.
    await waitForExecution(fleet.log, runs[0]!.runId, () => true, 60_000);
    await waitForExecution(fleet.log, runs[6]!.runId, () => true, 60_000);
    const waiting = await Promise.all(runs.slice(1, 6).map(async (r) => (await fleet.client.inspect(r.runId)).waiting));
    expect(waiting.filter((w) => w?.startsWith("queued: workflow limit serialized[ann] 1/1 in use")).length).toBeGreaterThan(0);
    // Kill the coordinator holding ann's last run, queued behind four others: the other one must take it over and start it in turn.
    const last = runs[5]!.runId;
    const queuedLine = (l: { msg?: string; runId?: unknown }): boolean => l.msg?.startsWith("run queued") === true && l.runId === last;
    await Promise.race(fleet.coordinators.map((c) => c.waitForLog(queuedLine, 60_000)));
    const victim = fleet.coordinators[0]!.lines.some(queuedLine) ? 0 : 1;
    const coordinator = fleet.coordinators[victim]!;
    const survivor = fleet.coordinators[1 - victim]!;
    coordinator.kill("SIGKILL");
    await coordinator.exited;
    await tookOver(survivor, last, 60_000);
    const records = await Promise.all(runs.map(async ({ runId }) => (await fleet.finish(runId)).record));
    expect(records.map((r) => r.status)).toEqual(records.map(() => "succeeded"));
    const all = spans(fleet.log);
    // Every run ran (one execution each, as no worker died), and never two of one key at once.
    expect(new Set(all.map((s) => s.runId))).toEqual(new Set(runs.map((r) => r.runId)));
    expect(all.every((s) => s.end !== undefined)).toBe(true);
    const most = mostOverlapping(all);
    expect(most.get("ann")).toBe(1);
    expect(most.get("bob")).toBe(1);
  }, 240_000);
});
