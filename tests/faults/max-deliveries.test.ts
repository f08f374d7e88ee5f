// A task whose every delivery dies with its worker: once JetStream has delivered it
// --max-deliver times it stops, and the coordinator (from the server's MAX_DELIVERIES
// advisory) counts that as a failed attempt under the task's retry policy — the run
// fails with the reason instead of hanging.
import { describe, expect, it } from "vitest";
import { COORDINATOR, readExecutions, useFleet } from "./support.js";

describe("faults - exhausted redeliveries", () => {
  const flags = ["--max-deliver", "2", "--ack-wait", "1000"];
  const fleet = useFleet("fmaxd", { coordinators: [COORDINATOR], workers: [{ id: "w1", flags }, { id: "w2", flags }] });

  it("faults - a task delivered max-deliver times without a result fails its attempt, and the run fails", async () => {
    const { runId } = await fleet.client.start("crasher", undefined);
    const { record } = await fleet.finish(runId);
    expect(record.status).toBe("failed");
    const task = record.tasks[0]!;
    expect(task.status).toBe("failed");
    expect(task.error?.code).toBe("MAX_DELIVERIES_EXCEEDED");
    expect(record.error?.message).toContain("MAX_DELIVERIES_EXCEEDED");
    // Both workers took it once and died with it.
    expect(readExecutions(fleet.log, runId)).toHaveLength(2);
    for (const w of fleet.processes.filter((p) => p.lines.some((l) => l.msg === "worker started"))) expect((await w.exited).signal).toBe("SIGKILL");
  }, 120_000);
});
