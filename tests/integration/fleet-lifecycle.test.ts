// Process lifecycle in a fleet: a worker stopped with SIGTERM finishes its in-flight task
// and exits 0; a coordinator started with --require-workers rejects runs whose executors
// no live worker serves, naming them; with two coordinators, cancels reach the run's
// coordinator whichever one the queue group hands them to (a non-owner forwards them).
import { afterAll, describe, expect, inject, it } from "vitest";
import { createClient } from "../../src/fleet/client.js";
import { COORDINATOR, Fleet, newExecutionLog, waitForExecution, waitForLive } from "../faults/support.js";

const url = inject("natsUrl");

describe("fleet - process lifecycle", () => {
  const fleets: Fleet[] = [];
  afterAll(async () => {
    for (const f of fleets) await f.close();
  }, 60_000);

  it("fleet - SIGTERM to a worker lets its in-flight task finish, then it exits 0", async () => {
    const fleet = new Fleet(url, "lcterm", newExecutionLog());
    fleets.push(fleet);
    await fleet.start({ coordinators: [COORDINATOR], workers: ["w-term"] });
    const worker = fleet.workers.get("w-term")!;
    const { runId } = await fleet.client.start("single", { ms: 2500 });
    await waitForLive(fleet.client, runId, (s) => s.type === "attempt.started");
    worker.kill("SIGTERM");
    const { record } = await fleet.finish(runId);
    expect(record.status).toBe("succeeded");
    expect(record.tasks[0]!.workerId).toBe("w-term");
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(worker.lines.some((l) => l.msg === "worker stopped")).toBe(true);
  }, 120_000);

  it("fleet - --require-workers rejects a run whose executors no live worker serves", async () => {
    const fleet = new Fleet(url, "lcreq", newExecutionLog());
    fleets.push(fleet);
    await fleet.start({ coordinators: [["--require-workers"]] });
    await expect(fleet.client.start("single", { ms: 10 })).rejects.toMatchObject({ code: "WORKERS_UNAVAILABLE", message: expect.stringContaining("faults/long") });
  }, 60_000);

  it("fleet - with two coordinators, a cancel reaches the run's coordinator whichever coordinator answers it", async () => {
    const fleet = new Fleet(url, "lcfwd", newExecutionLog());
    fleets.push(fleet);
    await fleet.start({
      coordinators: [
        ["--lease-ms", "5000", "--id", "c-a"],
        ["--lease-ms", "5000", "--id", "c-b"],
      ],
      workers: [{ id: "w1", flags: ["--concurrency", "32"] }],
    });
    const runs = await Promise.all(Array.from({ length: 6 }, () => fleet.client.start("long-wide", { ms: 20_000 })));
    for (const { runId } of runs) await waitForExecution(fleet.log, runId, (e) => e.taskId.startsWith("work/long-"));
    // Each cancel goes to whichever coordinator the queue group picks; both must work.
    const other = await createClient({ servers: url, prefix: "lcfwd" });
    try {
      const statuses = await Promise.all(runs.map(({ runId }, i) => (i % 2 === 0 ? fleet.client : other).cancel(runId, "test")));
      expect(statuses).toEqual(runs.map(() => "cancelled"));
    } finally {
      await other.close();
    }
    for (const { runId } of runs) expect((await fleet.finish(runId)).record.status).toBe("cancelled");
  }, 120_000);
});
