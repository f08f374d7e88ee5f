// Workers survive their executors: values of any shape thrown by an executor fail
// its task cleanly in one attempt (no redelivery loop, no MAX_DELIVERIES_EXCEEDED),
// a 3,000-deep cause chain leaves a run `phaseflow status` can read, a stray timer
// throw or unhandled rejection fails the attempt it came from (and no other, while
// attempts run side by side) while the worker keeps serving, and a task that blocks
// its worker's event loop past ack_wait is not run a second time (the stall keeper
// thread keeps its delivery alive). A worker started with --no-stray-guard is left
// to Node's default: its first stray error ends it.
import { beforeAll, describe, expect, inject, it } from "vitest";
import { runRecordSchema } from "../../src/runtime/core/run-record-schema.js";
import { spawnPhaseflow, type PhaseflowProcess } from "../support/processes.js";
import { COORDINATOR, readExecutions, useFleet } from "./support.js";

describe("faults - workers survive their executors", () => {
  const url = inject("natsUrl");
  const flags = ["--concurrency", "4"];
  const fleet = useFleet("fsurv", { coordinators: [COORDINATOR], workers: [{ id: "w1", flags }, { id: "w2", flags }] });
  const guarded: PhaseflowProcess[] = [];
  beforeAll(() => {
    guarded.push(fleet.workers.get("w1")!, fleet.workers.get("w2")!);
  });

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

  it("faults - stray errors of attempts running side by side with others fail each its own attempt, none of the others", async () => {
    // Both workers run 4 attempts at once: the stray ones share their worker with each other and with the grid's.
    const kinds = ["timer", "rejection", "timer", "rejection"];
    const grid = await fleet.client.start("fifty", { ms: 30 });
    const strays = await Promise.all(kinds.map((kind) => fleet.client.start("stray", { kind })));
    for (const [i, { runId }] of strays.entries()) {
      const { record } = await fleet.finish(runId);
      expect(record.status, kinds[i]).toBe("failed");
      expect(record.tasks[0]!.attempts, kinds[i]).toBe(1);
      expect(record.tasks[0]!.error?.code, kinds[i]).toBe("EXECUTOR_STRAY_ERROR");
      const line = await Promise.any(fleet.processes.map((p) => p.waitForLog((l) => l.runId === runId && String(l.msg).startsWith("stray error of an executor"), 10_000)));
      expect(line).toMatchObject({ runId, task: "only/t", attemptFailed: true });
    }
    const { record } = await fleet.finish(grid.runId);
    expect(record.status).toBe("succeeded");
    expect(record.tasks.every((t) => t.attempts === 1)).toBe(true);
    // No stray error was traced to an attempt of the grid.
    for (const p of fleet.processes) expect(p.lines.filter((l) => l.runId === grid.runId && String(l.msg).startsWith("stray error"))).toEqual([]);
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

  // Last: it stops the guarded workers.
  it("faults - a worker started with --no-stray-guard leaves stray errors to Node: the first one ends it", async () => {
    for (const w of guarded) w.kill("SIGTERM");
    for (const w of guarded) expect((await w.exited).code).toBe(0);
    const unguarded = await fleet.worker("w3", ["--no-stray-guard"]);
    await fleet.client.start("stray", { kind: "timer" });
    const { code } = await unguarded.exited;
    expect(code).toBe(1);
    expect(unguarded.output()).toContain("a timer of the executor threw");
  }, 120_000);
});
