// Cancel reaches the work: in-flight attempts are aborted on the workers (their
// AbortSignal fires, so they end as cancelled), nothing more is dispatched, and the run
// stays cancelled when its coordinator is killed and another one starts.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Fleet, newExecutionLog, readExecutions, waitForLive } from "./support.js";

describe("faults - cancel", () => {
  const fleet = new Fleet(inject("natsUrl"), "fcancel", newExecutionLog());

  beforeAll(async () => {
    await fleet.worker("w1");
    await fleet.worker("w2");
    await fleet.connect();
  }, 120_000);
  afterAll(() => fleet.close(), 60_000);

  it("faults - cancel aborts in-flight attempts and stays cancelled across a coordinator restart", async () => {
    const first = await fleet.coordinator(["--lease-ms", "1500", "--id", "c-1"]);
    const { runId } = await fleet.client.start("long-wide", { ms: 20_000 });
    await waitForLive(fleet.client, runId, (s) => s.type === "attempt.started" && s.task === "long-3");
    expect(await fleet.client.cancel(runId, "operator said stop")).toBe("cancelled");
    const { record, events } = await fleet.finish(runId);
    expect(record.status).toBe("cancelled");
    // The workers aborted the running attempts: each long task reports a cancelled attempt well before its 20 s.
    await expect
      .poll(async () => (await fleet.history(runId)).filter((e) => e.type === "attempt.failed" && e.error.code === "TASK_CANCELLED").length, { timeout: 15_000 })
      .toBe(4);
    expect(events.some((e) => e.type === "task.dispatched" && e.task === "join")).toBe(false);

    first.kill("SIGKILL");
    await first.exited;
    const second = await fleet.coordinator(["--lease-ms", "1500", "--id", "c-2"]);
    // Give the new coordinator several lease periods to (wrongly) pick the run up.
    await new Promise((r) => setTimeout(r, 4000));
    expect(second.lines.some((l) => l.runId === runId)).toBe(false);
    const after = await fleet.client.get(runId);
    expect(after.status).toBe("cancelled");
    const history = await fleet.history(runId);
    expect(history.filter((e) => e.type === "task.dispatched")).toHaveLength(events.filter((e) => e.type === "task.dispatched").length);
    expect(readExecutions(fleet.log, runId).some((e) => e.taskId === "work/join")).toBe(false);
  }, 120_000);
});
