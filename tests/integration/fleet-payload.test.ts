// Payloads over the NATS max payload (1 MB by default) fail the task that cannot travel,
// with an error naming it and the size — never a hung run. A parent's output travels
// once in its child's task message, so the limit applies to the outputs, not twice them.
import { describe, expect, it } from "vitest";
import { COORDINATOR, useFleet } from "../faults/support.js";

describe("fleet - payload limits", () => {
  const fleet = useFleet("fpayload", { coordinators: [COORDINATOR], workers: ["w1"] });

  it("fleet - a task output over the limit fails that task with PAYLOAD_TOO_LARGE", async () => {
    const { runId } = await fleet.client.start("big-output", { bytes: 1_200_000 });
    const { record } = await fleet.finish(runId);
    expect(record.status).toBe("failed");
    const big = record.tasks.find((t) => t.task === "big")!;
    expect(big.status).toBe("failed");
    expect(big.error?.code).toBe("PAYLOAD_TOO_LARGE");
    expect(big.error?.message).toMatch(/only\/big|"big"/);
    expect(big.error?.message).toMatch(/\d+ bytes/);
  }, 60_000);

  it("fleet - a parent's output travels once: a 600 KB output reaches its child under the 1 MB limit", async () => {
    const { runId } = await fleet.client.start("big-output", { bytes: 600_000 });
    // The record holds two outputs over half the limit: read it from the history (a run.get reply could not carry it).
    for await (const e of fleet.client.follow(runId)) void e;
    const record = await fleet.foldedRecord(runId);
    expect(record.status).toBe("succeeded");
    const after = record.tasks.find((t) => t.task === "after")!;
    expect((after.output as { blob: string }).blob).toHaveLength(600_000);
  }, 60_000);

  it("fleet - a task input over the limit (parents' outputs) fails the child task, not the engine", async () => {
    const { runId } = await fleet.client.start("big-pair", { bytes: 600_000 });
    // The record holds two outputs over half the limit: read it from the history (a run.get reply could not carry it).
    for await (const e of fleet.client.follow(runId)) void e;
    const record = await fleet.foldedRecord(runId);
    expect(record.status).toBe("failed");
    for (const name of ["big-1", "big-2"]) expect(record.tasks.find((t) => t.task === name)!.status).toBe("succeeded");
    const after = record.tasks.find((t) => t.task === "after")!;
    expect(after.status).toBe("failed");
    expect(after.error?.code).toBe("PAYLOAD_TOO_LARGE");
    expect(after.error?.message).toContain("only/after");
  }, 60_000);
});
