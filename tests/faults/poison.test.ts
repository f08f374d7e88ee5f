// A poison task (throws on every attempt) ends after exactly its configured attempts,
// its run fails with the error recorded, and runs going on at the same time are not
// held up by it.
import { describe, expect, it } from "vitest";
import { COORDINATOR, expectOneSucceededPerTask, readExecutions, useFleet } from "./support.js";

describe("faults - poison task", () => {
  const fleet = useFleet("fpoison", { coordinators: [COORDINATOR], workers: ["w1", "w2"] });

  it("faults - a poison task fails its run after exactly its attempts; concurrent runs succeed", async () => {
    const poisoned = await fleet.client.start("poison", undefined);
    const healthy = await Promise.all(Array.from({ length: 3 }, (_, i) => fleet.client.start("fifty", { ms: 5 + i })));
    const bad = await fleet.finish(poisoned.runId);
    expect(bad.record.status).toBe("failed");
    expect(bad.record.error?.code).toBe("TASK_FAILED");
    expect(bad.record.error?.message).toContain("boom");
    const boom = bad.record.tasks.find((t) => t.task === "boom")!;
    expect(boom.status).toBe("failed");
    expect(boom.attempts).toBe(3);
    expect(boom.error?.message).toContain("fails on every attempt");
    expect(readExecutions(fleet.log, poisoned.runId).map((e) => e.attempt)).toEqual([1, 2, 3]);
    for (const { runId } of healthy) {
      const ok = await fleet.finish(runId);
      expect(ok.record.status).toBe("succeeded");
      expect(ok.record.tasks).toHaveLength(50);
      expectOneSucceededPerTask(ok.events, ok.record);
    }
  }, 120_000);
});
