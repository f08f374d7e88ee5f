// How a map shows on the terminal: one progress line with its instances' counts, a
// grouped block in the run record, and one stderr line for a map that failed.
import { describe, expect, it } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import { NonRetryableError } from "../../src/errors/base.js";
import { renderProgress } from "../../src/cli/progress-render.js";
import { formatRunRecord } from "../../src/cli/format-run.js";
import { describeRunFailure } from "../../src/cli/run-summary.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";
import { testEngine } from "../support/runtime-fixtures.js";

function running(): RunRecord {
  const tasks: RunRecord["tasks"] = [
    { id: "study/plan", state: "study", visit: 1, task: "plan", status: "succeeded", attempts: 1 },
    { id: "study/run", state: "study", visit: 1, task: "run", status: "running", attempts: 0, instances: { count: 60, succeeded: 37, failed: 1, running: 16, cancelled: 0 } },
  ];
  for (let k = 0; k < 54; k++) {
    const status = k < 37 ? "succeeded" : k === 37 ? "failed" : "running";
    tasks.push({ id: `study/run[${k}]`, state: "study", visit: 1, task: `run[${k}]`, status, attempts: 1, map: "run", index: k, startedAt: 0 });
  }
  return { runId: "r1", workflow: "study", version: "1", planHash: "", status: "running", startedAt: 0, states: [{ name: "study", visit: 1, status: "running", enteredAt: 0 }], tasks };
}

describe("cli - map views", () => {
  it("cli - the progress display shows a map as one line of counts", () => {
    const lines = renderProgress(running(), { now: 1000, totals: { study: 3 } });
    expect(lines).toContain("      run  37/60 done, 1 failed, 16 running");
    expect(lines[1]).toContain("1/3 done, 0 failed, 1 running");
    expect(lines.some((l) => l.includes("run[40]"))).toBe(false);
  });

  it("cli - the run record groups a map's instances under it", () => {
    const text = formatRunRecord(running());
    expect(text).toContain("run[0..59]  map of 60 instances: 37 succeeded, 1 failed, 16 running, 6 not started");
    expect(text).toMatch(/ {4}run\[37\] +failed/);
    expect(text).toContain("... and 7 more");
    expect(text).not.toMatch(/run\[3\] +succeeded/);
  });

  it("cli - a failed map gets one stderr line, not one per instance", async () => {
    const wf = workflow("map-fail-view", { version: "1" });
    wf.state("s").map("run", { executor: "m/run", items: () => [1, 2, 3], maxConcurrency: 1 });
    const t = testEngine();
    t.registry.namespace("m").register("run", (i: number) => {
      if (i === 2) throw new NonRetryableError("bad cell");
      return i;
    });
    try {
      const r = await (await t.engine.run(wf, {}, { onFailure: "continue" })).result();
      const err = describeRunFailure(r);
      expect(err.trim().split("\n")).toHaveLength(1);
      expect(err).toContain('task s/run failed (map, 1 of 3 instances failed): [MAP_FAILED] map "s/run": 1 of 3 instances failed, 0 tolerated (first: "s/run[1]" [NON_RETRYABLE] bad cell)');
    } finally {
      await t.close();
    }
  });
});
