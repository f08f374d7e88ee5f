// Workers survive their executors: values of any shape thrown by an executor fail
// its task cleanly in one attempt (no redelivery loop, no MAX_DELIVERIES_EXCEEDED),
// a 3,000-deep cause chain leaves a run `phaseflow status` can read, a stray timer
// throw or unhandled rejection fails the attempt it came from while the worker keeps
// serving, and a task that blocks its worker's event loop past ack_wait is not run a
// second time (the stall keeper thread keeps its delivery alive).
import { describe, expect, inject, it } from "vitest";
import { runRecordSchema } from "../../src/runtime/run-record-schema.js";
import { spawnPhaseflow } from "../support/processes.js";
import { COORDINATOR, readExecutions, useFleet } from "./support.js";

describe("faults - workers survive their executors", () => {
  const url = inject("natsUrl");
  const flags = ["--concurrency", "4"];
  const fleet = useFleet("fsurv", { coordinators: [COORDINATOR], workers: [{ id: "w1", flags }, { id: "w2", flags }] });

  const alive = (): void => {
    for (const p of fleet.processes) expect(p.child.exitCode, p.output().slice(-3000)).toBeNull();
  };

  it("faults - an executor throwing a 3,000-deep cause chain fails its task cleanly, and status of the run works", async () => {
    const { runId } = await fleet.client.start("throws", { kind: "deep-cause" });
    const { record } = await fleet.finish(runId);
    expect(record.status).toBe("failed");
    const t = record.tasks[0]!;
    expect(t.attempts).toBe(1);
    expect(JSON.stringify(t.error)).toContain("more causes not kept");
    expect(JSON.stringify(t.error)).toContain("the root cause, 3,000 levels down");
    const status = spawnPhaseflow(["status", runId, "--json", "--nats", url, "--prefix", "fsurv"]);
    let stdout = "";
    status.child.stdout!.on("data", (c: string) => (stdout += c));
    const { code } = await status.exited;
    expect(code, status.output()).toBe(0);
    const shown = runRecordSchema.parse(JSON.parse(stdout));
    expect(shown.status).toBe("failed");
    expect(shown.tasks[0]!.error?.message).toContain("wrapper 2999");
  }, 120_000);

  it("faults - thrown values of any shape fail their task in one attempt, with no redelivery", async () => {
    const kinds = ["null-proto-circular", "bad-getter", "proxy", "bigint", "symbol"];
    const runs = await Promise.all(kinds.map((kind) => fleet.client.start("throws", { kind })));
    for (const [i, { runId }] of runs.entries()) {
      const { record } = await fleet.finish(runId);
      expect(record.status, kinds[i]).toBe("failed");
      const t = record.tasks[0]!;
      expect(t.attempts, kinds[i]).toBe(1);
      expect(t.error?.code, kinds[i]).not.toBe("MAX_DELIVERIES_EXCEEDED");
      expect(readExecutions(fleet.log, runId), kinds[i]).toHaveLength(1);
    }
    const bigint = (await fleet.client.get(runs[3]!.runId)).tasks[0]!;
    expect(bigint.error?.code).toBe("NON_ERROR_THROWN");
    expect(bigint.error?.message).toContain("12345678901234567890");
    alive();
  }, 120_000);

  it("faults - a stray timer throw and an unhandled rejection fail their own attempt; the workers keep serving", async () => {
    for (const kind of ["timer", "rejection"]) {
      const { runId } = await fleet.client.start("stray", { kind });
      const { record } = await fleet.finish(runId);
      expect(record.status, kind).toBe("failed");
      const t = record.tasks[0]!;
      expect(t.attempts, kind).toBe(1);
      expect(t.error?.code, kind).toBe("EXECUTOR_STRAY_ERROR");
      expect(t.error?.message, kind).toMatch(kind === "timer" ? /threw outside its call.*a timer of the executor threw/ : /left a promise rejected.*never handled/);
      // The worker that ran it logged the stray error with the attempt it belongs to.
      const line = await Promise.any(fleet.processes.map((p) => p.waitForLog((l) => l.runId === runId && String(l.msg).startsWith("stray error of an executor"), 10_000)));
      expect(line).toMatchObject({ runId, task: "only/t", attempt: 1, attemptFailed: true });
    }
    alive();
    const { runId } = await fleet.client.start("fifty", { ms: 1 });
    expect((await fleet.finish(runId)).record.status).toBe("succeeded");
    alive();
  }, 120_000);

  it("faults - a task blocking its worker's event loop for 2.5 ack windows runs once and succeeds", async () => {
    const { runId } = await fleet.client.start("cpu", { ms: 5000 });
    const { record } = await fleet.finish(runId);
    expect(record.status).toBe("succeeded");
    expect(record.tasks[0]!.attempts).toBe(1);
    expect(readExecutions(fleet.log, runId)).toHaveLength(1);
    alive();
  }, 120_000);
});
