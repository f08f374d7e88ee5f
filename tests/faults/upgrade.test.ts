// Live upgrade on a real fleet (README "Deploying new versions"): a v1 run moved onto v2 while its first
// task runs finishes on v2's later tasks; an incompatible upgrade is refused with its
// reasons and changes nothing; a coordinator killed with SIGKILL right after an upgrade
// leaves a run that a coordinator serving only v2 resumes on v2's plan.
import { describe, expect, inject, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { UpgradeRefusedError } from "../../src/errors/upgrade.js";
import { RunNotFoundError, UsageError } from "../../src/errors/base.js";
import { spawnPhaseflow } from "../support/processes.js";
import { holdout as holdoutV1 } from "../fixtures/versions/holdout-v1.js";
import { holdout as holdoutV2 } from "../fixtures/versions/holdout-v2.js";
import { COORDINATOR, Fleet, newExecutionLog, tookOver, waitForExecution } from "./support.js";

const V1 = "tests/fixtures/versions/holdout-v1.ts";
const V2 = "tests/fixtures/versions/holdout-v2.ts";
const V3 = "tests/fixtures/versions/holdout-v3.ts";
const v1Hash = compile(holdoutV1).planHash;
const v2Hash = compile(holdoutV2).planHash;

async function withFleet(prefix: string, body: (fleet: Fleet) => Promise<void>): Promise<void> {
  const fleet = new Fleet(inject("natsUrl"), prefix, newExecutionLog());
  try {
    await body(fleet);
  } finally {
    await fleet.close();
  }
}

async function cli(fleet: Fleet, args: string[]): Promise<{ code: number | null; output: string }> {
  const p = spawnPhaseflow([...args, "--nats", fleet.url, "--prefix", fleet.prefix]);
  const { code } = await p.exited;
  return { code, output: p.output() };
}

const tasksOf = (record: { tasks: { task: string }[] }): string[] => record.tasks.map((t) => t.task);

describe("faults - upgrade", () => {
  it("faults - a compatible upgrade mid-run finishes on v2's later tasks; an incompatible one is refused and changes nothing", async () => {
    await withFleet("fvupgrade", async (fleet) => {
      await Promise.all([fleet.coordinatorOf([V1, V2, V3]), fleet.worker("w1", ["--concurrency", "4"])]);
      await fleet.connect();
      // prep is held until the CLI calls below are done (fleet.release), each one a process start.
      const { runId } = await fleet.client.start("holdout", { ms: 90_000 }, { version: "1" });
      await waitForExecution(fleet.log, runId, (e) => e.taskId === "main/prep");

      const refused = await cli(fleet, ["upgrade", runId, "--to-version", "3"]);
      expect(refused.code, refused.output).toBe(1);
      expect(refused.output).toMatch(/\[EXECUTOR_CHANGED\] holdout\/main\/prep: task "prep" \(under way\) ran executor "faults\/long"; in holdout@3 it runs "faults\/quick"/);
      await expect(fleet.client.upgrade(runId, { toVersion: "3" })).rejects.toBeInstanceOf(UpgradeRefusedError);
      await expect(fleet.client.upgrade(runId, { toVersion: "9" })).rejects.toThrow(/no live coordinator serves holdout@9 \(served versions of "holdout": 1, 2, 3\)/);
      await expect(fleet.client.upgrade(runId, { toVersion: "9" })).rejects.toBeInstanceOf(UsageError);
      await expect(fleet.client.upgrade("run_nope", { toVersion: "2" })).rejects.toBeInstanceOf(RunNotFoundError);
      // Nothing changed: no upgrade in the history.
      expect((await fleet.history(runId)).some((e) => e.type === "run.upgraded")).toBe(false);
      expect((await fleet.client.get(runId)).planHash).toBe(v1Hash);

      const dry = await cli(fleet, ["upgrade", runId, "--to-version", "2", "--dry-run"]);
      expect(dry.code, dry.output).toBe(0);
      expect(dry.output).toContain(`run ${runId} can be upgraded: holdout@1 (plan ${v1Hash.slice(0, 12)}) -> holdout@2 (plan ${v2Hash.slice(0, 12)}), in state "main" (dry run: nothing changed)`);
      const done = await cli(fleet, ["upgrade", runId, "--to-version", "2"]);
      expect(done.code, done.output).toBe(0);
      expect(done.output).toContain(`run ${runId} upgraded: holdout@1`);
      fleet.release(runId);

      const { record, events } = await fleet.finish(runId);
      expect(record.status).toBe("succeeded");
      expect(record.version).toBe("2");
      expect(record.planHash).toBe(v2Hash);
      expect(tasksOf(record)).toEqual(["prep", "finish", "publish"]);
      // prep ran once, started on v1's plan, and counted on v2's.
      expect(record.tasks.find((t) => t.task === "prep")?.attempts).toBe(1);
      expect(events.filter((e) => e.type === "run.upgraded")).toMatchObject([{ from: { version: "1", planHash: v1Hash }, version: "2", planHash: v2Hash }]);
      const ended = await cli(fleet, ["upgrade", runId, "--to-version", "3"]);
      expect(ended.code, ended.output).toBe(2);
      expect(ended.output).toMatch(/has ended \(succeeded\); only a running run can be upgraded/);
    });
  }, 180_000);

  it("faults - a coordinator killed right after an upgrade: a coordinator serving only v2 resumes the run on v2's plan", async () => {
    await withFleet("fvupkill", async (fleet) => {
      const [old] = await Promise.all([fleet.coordinatorOf([V1, V2], [...COORDINATOR, "--id", "old"]), fleet.worker("w1", ["--concurrency", "4"])]);
      await fleet.connect();
      // prep is held until the successor has taken the run over (fleet.release).
      const { runId } = await fleet.client.start("holdout", { ms: 90_000 }, { version: "1" });
      await waitForExecution(fleet.log, runId, (e) => e.taskId === "main/prep");
      // The successor is up before the move, so nothing but the kill stands between them.
      const next = await fleet.coordinatorOf([V2], [...COORDINATOR, "--id", "next"]);
      const report = await fleet.client.upgrade(runId, { toVersion: "2" });
      expect(report).toMatchObject({ upgraded: true, from: { version: "1" }, to: { version: "2", planHash: v2Hash } });
      old.kill("SIGKILL");
      await old.exited;
      await tookOver(next, runId);
      fleet.release(runId);
      const { record } = await fleet.finish(runId);
      expect(record.status).toBe("succeeded");
      expect(record.planHash).toBe(v2Hash);
      expect(tasksOf(record)).toEqual(["prep", "finish", "publish"]);
      expect(record.upgrades).toHaveLength(1);
    });
  }, 180_000);
});
