// Cancel reaches the work: in-flight attempts are aborted on the workers (their
// AbortSignal fires, so they end as cancelled), nothing more is dispatched, and the run
// stays cancelled when its coordinator is killed and another one starts; a cancel sent
// right after the run's coordinator was killed -9 is recorded, answered, and applied by
// the run's next holder.
import { describe, expect, it } from "vitest";
import { readExecutions, useFleet, waitForLive } from "./support.js";

describe("faults - cancel", () => {
  const fleet = useFleet("fcancel", { workers: ["w1", "w2"] });

  it("faults - cancel aborts in-flight attempts and stays cancelled across a coordinator restart", async () => {
    const first = await fleet.coordinator(["--lease-ms", "1500", "--id", "c-1"]);
    const { runId } = await fleet.client.start("long-wide", { ms: 20_000 });
    await waitForLive(fleet.client, runId, (s) => s.type === "attempt.started" && s.task === "long-3");
    expect(await fleet.client.cancel(runId, "operator said stop")).toBe("cancelled");
    const { record, events } = await fleet.finish(runId);
    expect(record.status).toBe("cancelled");
    // The workers aborted the running attempts: each long task reports a cancelled attempt well before its 20 s.
    await expect
      .poll(async () => (await fleet.history(runId)).filter((e) => e.type === "attempt.failed" && e.error.code === "TASK_CANCELLED").length, { timeout: 30_000 })
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

describe("faults - cancel after the holder died", () => {
  const fleet = useFleet("fcancel2", { workers: ["w1"] });

  it("faults - a cancel sent right after its coordinator is killed -9 is applied by the next owner", async () => {
    // A long lease: the cancel surely arrives while the dead holder's lease still runs.
    const owner = await fleet.coordinator(["--lease-ms", "6000", "--id", "c-owner"]);
    const { runId } = await fleet.client.start("long-wide", { ms: 20_000 });
    await waitForLive(fleet.client, runId, (s) => s.type === "attempt.started" && s.task === "long-3");
    // The survivor starts after the run is held, so the killed one is the run's holder.
    await fleet.coordinator(["--lease-ms", "2000", "--id", "c-next"]);
    owner.kill("SIGKILL");
    await owner.exited;
    // Within the dead holder's lease: the survivor can neither adopt the run yet nor reach its holder.
    expect(await fleet.client.cancel(runId, "stop after the crash")).toBe("running");
    const { record, events } = await fleet.finish(runId);
    expect(record.status).toBe("cancelled");
    expect(record.reason).toBe("stop after the crash");
    expect(events.some((e) => e.type === "task.dispatched" && e.task === "join")).toBe(false);
    // Applied on adoption by whichever live coordinator took the run over.
    expect(fleet.processes.some((p) => p.lines.some((l) => l.runId === runId && typeof l.msg === "string" && l.msg.includes("applying the cancel recorded")))).toBe(true);
    // Cancelling it again answers its final status.
    expect(await fleet.client.cancel(runId)).toBe("cancelled");
  }, 120_000);
});
