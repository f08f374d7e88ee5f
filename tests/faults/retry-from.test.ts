// Partial re-run: `phaseflow retry <runId>` re-runs a failed run from its failed task
// and everything downstream, reusing what succeeded; `--from state/task` re-runs from
// the given task. The re-run is part of the same run's history.
import { describe, expect, inject, it } from "vitest";
import { fixFlaky } from "../fixtures/faults/executors.js";
import { spawnPhaseflow } from "../support/processes.js";
import { COORDINATOR, acceptedSuccesses, expectOneSucceededPerTask, readExecutions, useFleet } from "./support.js";

describe("faults - partial re-run", () => {
  const url = inject("natsUrl");
  const fleet = useFleet("fretry", { coordinators: [COORDINATOR], workers: ["w1"] });

  const executed = (runId: string): string[] => readExecutions(fleet.log, runId).map((e) => e.taskId.split("/")[1]!);

  it("faults - retry re-executes only the failed task and its downstream, in the same run", async () => {
    const { runId } = await fleet.client.start("flaky", { key: "k1" });
    const failed = await fleet.finish(runId);
    expect(failed.record.status).toBe("failed");
    expect(executed(runId).sort()).toEqual(["a", "flaky", "side"]);
    fixFlaky(fleet.log, "k1");
    const cli = spawnPhaseflow(["retry", runId, "--nats", url, "--prefix", "fretry", "--json"]);
    const exit = await cli.exited;
    expect(exit.code, cli.output()).toBe(0);
    const { record, events } = await fleet.finish(runId, { afterRetry: true });
    expect(record.status).toBe("succeeded");
    expect(record.runId).toBe(runId);
    expect(events.filter((e) => e.type === "run.retried")).toHaveLength(1);
    // a and side ran once; flaky ran twice; its downstream once.
    expect(executed(runId).sort()).toEqual(["a", "after-1", "after-2", "flaky", "flaky", "side"]);
    expectOneSucceededPerTask(events, record);
  }, 150_000);

  it("faults - retry --from re-executes exactly the named task and its downstream", async () => {
    const { runId } = await fleet.client.start("flaky", { key: "k2" });
    expect((await fleet.finish(runId)).record.status).toBe("failed");
    fixFlaky(fleet.log, "k2");
    await fleet.client.retry(runId, { state: "main", task: "a" });
    const { record, events } = await fleet.finish(runId, { afterRetry: true });
    expect(record.status).toBe("succeeded");
    expect(executed(runId).sort()).toEqual(["a", "a", "after-1", "after-2", "flaky", "flaky", "side"]);
    const accepted = acceptedSuccesses(events);
    const succeeded = (task: string): number => [...accepted].filter(([key]) => key.endsWith(`/${task}`)).reduce((n, [, c]) => n + c, 0);
    expect([succeeded("a"), succeeded("flaky"), succeeded("after-1"), succeeded("after-2"), succeeded("side")]).toEqual([2, 1, 1, 1, 1]);
  }, 150_000);

  it("faults - retry of a run that did not fail is refused", async () => {
    const { runId } = await fleet.client.start("fifty", { ms: 1 });
    expect((await fleet.finish(runId)).record.status).toBe("succeeded");
    await expect(fleet.client.retry(runId)).rejects.toMatchObject({ code: "USAGE", message: expect.stringContaining("succeeded") });
  }, 60_000);
});
