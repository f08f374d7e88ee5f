// Retrying a run whose map failed re-runs only the map's instances that did not succeed,
// keeping the others' outputs (Airflow's mapped tasks, Step Functions' redrive), in the
// live coordinator and in every fold of the history (record, resume). A retry `from`
// the map re-runs it whole: its input may have changed.
import { describe, expect, it } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import { NonRetryableError } from "../../src/errors/base.js";
import { recordOfHistory } from "../../src/runtime/core/run-record.js";
import { testEngine } from "../support/runtime-fixtures.js";

const FAILING = new Set([7, 23, 41]);

function setup() {
  const wf = workflow("map-redrive", { version: "1" });
  const s = wf.state("s");
  const plan = s.task("plan", { executor: "mr/plan" });
  // Two failures tolerated, so the map fails at the third; the broken items fail after the others succeeded.
  const each = s.map("each", { executor: "mr/each", items: (input: { n: number }) => Array.from({ length: input.n }, (_, i) => i), toleratedFailures: 2 });
  const sum = s.task("sum", { executor: "mr/sum" });
  plan.then(each).then(sum);
  const t = testEngine();
  const calls = new Map<number, number>();
  let healed = false;
  let succeeded = 0;
  let othersDone!: () => void;
  const allOthersDone = new Promise<void>((r) => (othersDone = r));
  t.registry
    .namespace("mr")
    .register("plan", () => ({ n: 50 }))
    .register("each", async (i: number, ctx) => {
      calls.set(i, (calls.get(i) ?? 0) + 1);
      if (FAILING.has(i) && !healed) {
        await allOthersDone; // fail only once the 47 others succeeded: none is cancelled with the map
        throw new NonRetryableError(`item ${i} is broken`);
      }
      if (++succeeded === 50 - FAILING.size) othersDone();
      return { i, go: ctx.idempotencyKey };
    })
    .register("sum", (input: { each: { i: number }[] }) => ({ total: input.each.reduce((a, o) => a + o.i, 0) }));
  return { wf, t, calls, heal: () => (healed = true) };
}

describe("map retry - only the failed instances run again", () => {
  it("runtime - retry of a map with 3 of 50 instances failed runs those 3 again and keeps the 47 outputs", async () => {
    const { wf, t, calls, heal } = setup();
    try {
      const first = await (await t.engine.run(wf, {}, { onFailure: "continue" })).result();
      expect(first.status).toBe("failed");
      expect(first.tasks.find((x) => x.task === "each")).toMatchObject({ status: "failed", error: { code: "MAP_FAILED" } });
      const before = first.tasks.filter((x) => x.map === "each" && x.status === "succeeded").map((x) => [x.task, x.output] as const);
      expect(before).toHaveLength(47);
      const callsBefore = new Map(calls);
      heal();
      const retried = await (await t.engine.retry(wf, await t.history(first.runId))).result();
      expect(retried.status).toBe("succeeded");
      // Only the 3 failed instances ran again.
      const ranAgain = [...calls].filter(([i, n]) => n !== callsBefore.get(i)).map(([i]) => i);
      expect(ranAgain.sort((a, b) => a - b)).toEqual([...FAILING]);
      // The 47 kept their outputs (their first go's idempotency key says they did not run again).
      const after = new Map(retried.tasks.filter((x) => x.map === "each").map((x) => [x.task, x.output]));
      for (const [task, output] of before) expect(after.get(task)).toEqual(output);
      expect(retried.tasks.find((x) => x.task === "each")).toMatchObject({ status: "succeeded", instances: { count: 50, succeeded: 50, failed: 0 } });
      expect(retried.tasks.find((x) => x.task === "each")!.error).toBeUndefined();
      expect(retried.output).toEqual({ total: (49 * 50) / 2 });
      // The history folds to the same record (what status, the web view and a resuming coordinator see).
      const folded = recordOfHistory(await t.history(first.runId));
      expect(folded.status).toBe("succeeded");
      expect(folded.tasks.find((x) => x.task === "each")).toMatchObject({ status: "succeeded", instances: { count: 50, succeeded: 50 } });
      expect(new Map(folded.tasks.filter((x) => x.map === "each").map((x) => [x.task, x.output]))).toEqual(after);
    } finally {
      await t.close();
    }
  });

  it("runtime - retry from the map re-runs every instance", async () => {
    const { wf, t, calls, heal } = setup();
    try {
      const first = await (await t.engine.run(wf, {}, { onFailure: "continue" })).result();
      expect(first.status).toBe("failed");
      heal();
      const retried = await (await t.engine.retry(wf, await t.history(first.runId), { state: "s", task: "each" })).result();
      expect(retried.status).toBe("succeeded");
      expect([...calls.values()].every((n) => n === 2)).toBe(true);
      expect(calls.size).toBe(50);
    } finally {
      await t.close();
    }
  });
});
