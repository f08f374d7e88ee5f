// Versions side by side on a real fleet (DESIGN §9): starts reach a coordinator serving
// the workflow; a rolling deploy (v1 -> v1+v2, the v1-only coordinator killed with
// SIGKILL) finishes the v1 run on v1's plan while new starts get v2; a v1 run left with
// only a v2 coordinator waits (and says so) instead of failing, and finishes once a v1
// coordinator is back.
import { describe, expect, inject, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { spawnPhaseflow } from "../support/processes.js";
import { holdout as holdoutV1 } from "../fixtures/versions/holdout-v1.js";
import { holdout as holdoutV2 } from "../fixtures/versions/holdout-v2.js";
import { COORDINATOR, Fleet, newExecutionLog, tookOver, waitForExecution } from "./support.js";

const V1 = "tests/fixtures/versions/holdout-v1.ts";
const V2 = "tests/fixtures/versions/holdout-v2.ts";
const OTHER = "tests/fixtures/versions/other.ts";
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

/** Run the CLI to its exit; its whole output. */
async function cli(fleet: Fleet, args: string[]): Promise<{ code: number | null; output: string }> {
  const p = spawnPhaseflow([...args, "--nats", fleet.url, "--prefix", fleet.prefix]);
  const { code } = await p.exited;
  return { code, output: p.output() };
}

const tasksOf = (record: { tasks: { task: string }[] }): string[] => record.tasks.map((t) => t.task);

describe("faults - versions side by side", () => {
  it("faults - starts by name reach the coordinator serving the workflow", async () => {
    await withFleet("fvroute", async (fleet) => {
      await Promise.all([fleet.coordinatorOf([V1]), fleet.coordinatorOf([OTHER]), fleet.worker("w1", ["--concurrency", "8"])]);
      await fleet.connect();
      const starts = await Promise.all([
        ...Array.from({ length: 4 }, () => fleet.client.start("holdout", { ms: 10 })),
        ...Array.from({ length: 4 }, () => fleet.client.start("other", {})),
      ]);
      for (const { runId } of starts) expect((await fleet.finish(runId)).record.status).toBe("succeeded");
      expect(starts.slice(0, 4).every((s) => s.version === "1" && s.planHash === v1Hash)).toBe(true);
      await expect(fleet.client.start("holdout", {}, { version: "2" })).rejects.toThrow(/no coordinator answers on fvroute\.api\.run\.start\.wf\.holdout\.v\.2 \(none serves workflow "holdout" version "2"\)/);
      await expect(fleet.client.start("nobody", {})).rejects.toThrow(/no coordinator answers on fvroute\.api\.run\.start\.wf\.nobody \(none serves workflow "nobody"\)/);
    });
  }, 150_000);

  it("faults - rolling deploy: the v1 run finishes on v1's plan, new starts get v2, --version 1 starts v1", async () => {
    await withFleet("fvroll", async (fleet) => {
      const [old] = await Promise.all([fleet.coordinatorOf([V1], [...COORDINATOR, "--id", "old"]), fleet.worker("w1", ["--concurrency", "8"])]);
      await fleet.connect();
      // prep is held until the takeover is seen (fleet.release), however long a coordinator takes to start.
      const long = await fleet.client.start("holdout", { ms: 90_000 });
      expect(long.version).toBe("1");
      await waitForExecution(fleet.log, long.runId, (e) => e.taskId === "main/prep");
      expect((await fleet.client.get(long.runId)).status).toBe("running");
      // Deploy: a coordinator serving both versions comes up, the v1-only one dies.
      const both = await fleet.coordinatorOf([V1, V2], [...COORDINATOR, "--id", "both"]);
      old.kill("SIGKILL");
      await old.exited;
      // A read sent while the server still routes to the dead coordinator's subscription times
      // out (seen once under load): poll, which asks again.
      await expect
        .poll(async () => (await fleet.client.get(long.runId)).status, { timeout: 30_000, interval: 500, message: "the v1 run is still in flight when its coordinator dies" })
        .toBe("running");
      await tookOver(both, long.runId);
      fleet.release(long.runId);
      const { record } = await fleet.finish(long.runId);
      expect(record.status).toBe("succeeded");
      expect(record.planHash).toBe(v1Hash);
      expect(tasksOf(record)).toEqual(["prep", "finish"]);

      const fresh = await fleet.client.start("holdout", { ms: 10 });
      expect(fresh.version).toBe("2");
      const freshRecord = (await fleet.finish(fresh.runId)).record;
      expect(freshRecord.planHash).toBe(v2Hash);
      expect(tasksOf(freshRecord)).toEqual(["prep", "finish", "publish"]);

      const asked = await cli(fleet, ["run", "--workflow", "holdout", "--version", "1", "--input", '{"ms":10}', "--detach"]);
      expect(asked.code, asked.output).toBe(0);
      const runId = /run_[A-Za-z0-9_-]+/.exec(asked.output)?.[0];
      expect(runId, asked.output).toBeDefined();
      const askedRecord = (await fleet.finish(runId!)).record;
      expect(askedRecord.version).toBe("1");
      expect(tasksOf(askedRecord)).toEqual(["prep", "finish"]);
    });
  }, 150_000);

  it("faults - a v1 run with only a v2 coordinator waits, says so, and finishes once a v1 coordinator is back", async () => {
    await withFleet("fvwait", async (fleet) => {
      const [old] = await Promise.all([fleet.coordinatorOf([V1], [...COORDINATOR, "--id", "old"]), fleet.worker("w1", ["--concurrency", "8"])]);
      await fleet.connect();
      // prep is held until a v1 coordinator has taken the run back (fleet.release).
      const { runId } = await fleet.client.start("holdout", { ms: 90_000 });
      await waitForExecution(fleet.log, runId, (e) => e.taskId === "main/prep");
      await fleet.coordinatorOf([V2], [...COORDINATOR, "--id", "new"]);
      old.kill("SIGKILL");
      await old.exited;
      const waiting = `waiting for a coordinator serving holdout@1 (plan ${v1Hash.slice(0, 12)}…)`;
      // Once the dead coordinator's heartbeat is stale the run says what it waits for.
      await expect.poll(async () => (await fleet.client.inspect(runId)).waiting, { timeout: 30_000, interval: 500 }).toBe(waiting);
      const status = await cli(fleet, ["status", runId]);
      expect(status.output).toContain(waiting);
      const list = await fleet.client.list({ limit: 10 });
      expect(list.find((r) => r.runId === runId)).toMatchObject({ status: "running", version: "1", waiting });
      // Several lease periods later it still waits rather than failing.
      await new Promise((r) => setTimeout(r, 6000));
      expect((await fleet.client.inspect(runId)).record.status).toBe("running");

      const back = await fleet.coordinatorOf([V1], [...COORDINATOR, "--id", "back"]);
      await tookOver(back, runId);
      fleet.release(runId);
      const { record } = await fleet.finish(runId);
      expect(record.status).toBe("succeeded");
      expect(record.planHash).toBe(v1Hash);
      expect(tasksOf(record)).toEqual(["prep", "finish"]);
      expect((await fleet.client.inspect(runId)).waiting).toBeUndefined();
    });
  }, 150_000);
});
