// kill -9 the coordinator mid-phase and start a new one: it finds the run from its
// lease in KV, rebuilds it from the event history and carries on. Tasks that had
// succeeded before the crash are not executed again, and every task has exactly one
// accepted success.
import { describe, expect, it } from "vitest";
import { expectOneSucceededPerTask, readExecutions, tookOver, useFleet, waitForLive } from "./support.js";

describe("faults - coordinator killed mid-phase", () => {
  const fleet = useFleet("fck", { workers: ["w1", "w2"] });

  it("faults - kill -9 of the coordinator mid-phase; a new coordinator finishes the run without re-running finished tasks", async () => {
    const first = await fleet.coordinator(["--lease-ms", "2000", "--id", "c-first"]);
    const { runId } = await fleet.client.start("long-wide", { ms: 3000 });
    // prep has succeeded and the long tasks are running: crash now.
    await waitForLive(fleet.client, runId, (s) => s.type === "attempt.started" && s.task.startsWith("long-"));
    first.kill("SIGKILL");
    await first.exited;
    const second = await fleet.coordinator(["--lease-ms", "2000", "--id", "c-second"]);
    await tookOver(second, runId);
    const { record, events } = await fleet.finish(runId);
    expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
    expectOneSucceededPerTask(events, record);
    const executions = readExecutions(fleet.log, runId);
    const count = (task: string): number => executions.filter((e) => e.taskId === `work/${task}`).length;
    expect(count("prep")).toBe(1);
    expect(count("join")).toBe(1);
    for (let i = 0; i < 4; i++) expect(count(`long-${i}`)).toBe(1);
  }, 150_000);
});

describe("faults - coordinator killed mid-map", () => {
  const fleet = useFleet("fckm", { workers: ["w1", "w2"] });

  it("faults - kill -9 of the coordinator mid-map; the new one resumes the map without re-running finished instances", async () => {
    const first = await fleet.coordinator(["--lease-ms", "2000", "--id", "c-map-1"]);
    // 6 instances, 2 at a time: kill once the third instance started (two have finished).
    const { runId } = await fleet.client.start("long-map", { ms: 1500, n: 6 });
    await waitForLive(fleet.client, runId, (s) => s.type === "attempt.started" && (s.task === "cells[2]" || s.task === "cells[3]"));
    first.kill("SIGKILL");
    await first.exited;
    const second = await fleet.coordinator(["--lease-ms", "2000", "--id", "c-map-2"]);
    await tookOver(second, runId);
    const { record, events } = await fleet.finish(runId);
    expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
    expectOneSucceededPerTask(events, record);
    const executions = readExecutions(fleet.log, runId);
    for (let k = 0; k < 6; k++) expect(executions.filter((e) => e.taskId === `work/cells[${k}]`), `cells[${k}]`).toHaveLength(1);
    expect(events.filter((e) => e.type === "map.items")).toHaveLength(1);
    expect(record.tasks.find((t) => t.task === "cells")!.instances).toMatchObject({ count: 6, succeeded: 6 });
  }, 150_000);
});
