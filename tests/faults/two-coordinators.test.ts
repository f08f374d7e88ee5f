// Two coordinators side by side: every run is driven by exactly one of them (its lease
// holder), and when the one holding a run's lease is killed, the other takes it over.
import { describe, expect, it } from "vitest";
import type { PhaseflowProcess } from "../support/processes.js";
import { expectOneSucceededPerTask, readExecutions, tookOver, twoCoordinators, useFleet } from "./support.js";

const finishedBy = (p: PhaseflowProcess, runId: string): boolean => p.lines.some((l) => l.msg === "run finished" && l.runId === runId);

describe("faults - two coordinators", () => {
  const fleet = useFleet("f2c", twoCoordinators("c-a", "c-b"));

  it("faults - with two coordinators every run is driven by exactly one", async () => {
    const [a, b] = fleet.coordinators as [PhaseflowProcess, PhaseflowProcess];
    const runs = await Promise.all(Array.from({ length: 10 }, (_, i) => fleet.client.start("fifty", { ms: 2 + i })));
    for (const { runId } of runs) {
      const { record, events } = await fleet.finish(runId);
      expect(record.status).toBe("succeeded");
      expectOneSucceededPerTask(events, record);
    }
    await expect.poll(() => runs.every(({ runId }) => finishedBy(a, runId) || finishedBy(b, runId)), { timeout: 30_000 }).toBe(true);
    for (const { runId } of runs) expect(finishedBy(a, runId) && finishedBy(b, runId)).toBe(false);
  }, 150_000);

  it("faults - killing the coordinator that holds a run's lease: the other takes it over", async () => {
    const [a, b] = fleet.coordinators as [PhaseflowProcess, PhaseflowProcess];
    const { runId } = await fleet.client.start("long-wide", { ms: 3000 });
    const list = await fleet.client.list({ limit: 100 });
    expect(list.find((r) => r.runId === runId)).toBeDefined();
    // Find the holder from KV and kill it.
    const stored = await fleet.client.transport.buckets.runs.get(`run.${runId}`);
    const holder = (JSON.parse(new TextDecoder().decode(stored!.value)) as { coordinator: string }).coordinator;
    expect(holder.startsWith("c-a~") || holder.startsWith("c-b~"), holder).toBe(true);
    const [victim, survivor] = holder.startsWith("c-a~") ? [a, b] : [b, a];
    victim.kill("SIGKILL");
    await tookOver(survivor, runId);
    const { record, events } = await fleet.finish(runId);
    expect(record.status).toBe("succeeded");
    expectOneSucceededPerTask(events, record);
    expect(readExecutions(fleet.log, runId).filter((e) => e.taskId === "work/prep")).toHaveLength(1);
  }, 150_000);
});
