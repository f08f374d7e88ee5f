// The study grid as the study runner used it: one embedded run with a seed, exported to
// SQLite with `phaseflow run --export`, and read back with plain SQL (better-sqlite3, as
// a reader without the engine would): the run's output, and one row per map instance
// (`run[0]` ... `run[59]`), each succeeded with its output.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { ESTIMATORS, REPLICATES, SAMPLE_SIZES } from "../../examples/study-grid.js";
import { runCli } from "../../src/cli/run-cli.js";
import { expectedStudy } from "../../workers/study.js";
import { ROOT } from "../support/processes.js";

const CELLS = ESTIMATORS.length * SAMPLE_SIZES.length * REPLICATES;

describe("examples - study-grid archive", () => {
  it("examples - a seeded study-grid run exported to SQLite reads back with its output and one row per map instance", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "phaseflow-study-")), "study.sqlite");
    let stdout = "";
    let stderr = "";
    const code = await runCli(
      ["run", "examples/study-grid.ts", "--executors", "workers/study.ts", "--seed", "7", "--input", '{"integrand":"exp"}', "--json", "--export", file],
      { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, isTTY: false, cwd: ROOT },
    );
    expect(code, stderr).toBe(0);
    const record = JSON.parse(stdout) as { runId: string; output: unknown };

    const db = new Database(file, { readonly: true });
    try {
      const runs = db.prepare("SELECT run_id, workflow, status, output FROM runs").all() as { run_id: string; workflow: string; status: string; output: string }[];
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ run_id: record.runId, workflow: "study-grid", status: "succeeded" });
      const output = JSON.parse(runs[0]!.output) as unknown;
      expect(output).toEqual(record.output);
      expect(output).toEqual(expectedStudy({ integrand: "exp" }, 7, { estimators: [...ESTIMATORS], sampleSizes: [...SAMPLE_SIZES], replicates: REPLICATES }));

      const instances = db.prepare("SELECT task_id, status, output FROM tasks WHERE task_id LIKE '%run[%' ORDER BY task_id").all() as { task_id: string; status: string; output: string }[];
      expect(instances).toHaveLength(CELLS);
      expect(instances.every((t) => t.status === "succeeded" && JSON.parse(t.output) !== null)).toBe(true);
      const indexes = instances.map((t) => Number(/\[(\d+)\]$/.exec(t.task_id)![1])).sort((a, b) => a - b);
      expect(indexes).toEqual([...Array(CELLS).keys()]);
    } finally {
      db.close();
    }
  });
});
