// Versions side by side (DESIGN §9), the pure parts and the embedded engine: natural,
// semver-aware ordering; the catalog a coordinator serves; `engine.run(..., { version })`;
// and a run resumed on the plan it started with, whichever version is passed.
import { describe, expect, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { workflow, type Workflow } from "../../src/dsl/workflow.js";
import { WorkflowCatalog } from "../../src/embedded/workflow-catalog.js";
import { compareVersions, latestVersion } from "../../src/plan/versions.js";
import { UsageError } from "../../src/errors/base.js";
import { testEngine } from "../support/runtime-fixtures.js";

function holdout(version: string, tasks: string[]) {
  const wf = workflow("holdout", { version });
  const s = wf.state("main");
  let prev: ReturnType<typeof s.task> | undefined;
  for (const t of tasks) {
    const task = s.task(t, { executor: `v/${t}` });
    if (prev) prev.then(task);
    prev = task;
  }
  return wf;
}

describe("versions - ordering", () => {
  it("orders versions naturally and semver-aware", () => {
    expect(["10", "2", "1"].sort(compareVersions)).toEqual(["1", "2", "10"]);
    expect(["1.10.0", "1.9.0", "1.9.1"].sort(compareVersions)).toEqual(["1.9.0", "1.9.1", "1.10.0"]);
    expect(compareVersions("2.0.0-rc.1", "2.0.0")).toBeLessThan(0);
    expect(compareVersions("2.0.0-rc.2", "2.0.0-rc.10")).toBeLessThan(0);
    expect(compareVersions("2.0.0+build.5", "2.0.0")).toBe(1);
    expect(compareVersions("1.0.0+a", "1.0.0+a")).toBe(0);
    expect(compareVersions("2024-11-03", "2024-12-01")).toBeLessThan(0);
    expect(latestVersion(["3", "10", "9"])).toBe("10");
    expect(latestVersion([])).toBeUndefined();
  });
});

describe("versions - catalog", () => {
  it("serves several versions of one name: latest by default, by plan for runs", () => {
    const v1 = holdout("1", ["a", "b"]);
    const v2 = holdout("2", ["a", "b", "c"]);
    const v10 = holdout("10", ["a"]);
    const catalog = new WorkflowCatalog();
    for (const wf of [v10, v1, v2]) catalog.add(wf, compile(wf));
    expect(catalog.versionsOf("holdout")).toEqual(["1", "2", "10"]);
    expect(catalog.resolve("holdout").plan.version).toBe("10");
    expect(catalog.resolve("holdout", "2").workflow).toBe(v2);
    expect(catalog.byPlan(compile(v1).planHash)?.workflow).toBe(v1);
    expect(() => catalog.resolve("holdout", "3")).toThrow(/version "3" of workflow "holdout" is not served here; served versions: 1, 2, 10/);
    expect(() => catalog.resolve("other")).toThrow(/workflow "other" is not served here; served: holdout@1, holdout@2, holdout@10/);
    // The same version again with the same plan is one entry; with another plan it is refused.
    catalog.add(holdout("1", ["a", "b"]), compile(holdout("1", ["a", "b"])));
    expect(catalog.entries()).toHaveLength(3);
    const changed = holdout("1", ["a", "x"]);
    expect(() => catalog.add(changed, compile(changed))).toThrow(UsageError);
    expect(() => catalog.add(changed, compile(changed))).toThrow(/two different definitions of holdout@1/);
  });
});

describe("versions - embedded engine", () => {
  it("starts the version asked for, and resumes a run on the plan it started with", async () => {
    const v1 = holdout("1", ["a", "b"]);
    const v2 = holdout("2", ["a", "b", "c"]);
    const t = testEngine({ workflows: [v1, v2] as unknown as Workflow<never>[] });
    for (const name of ["a", "b", "c"]) t.registry.namespace("v").register(name, () => ({ [name]: true }));
    try {
      const latest = await (await t.engine.run(v2, {})).result();
      expect(latest.version).toBe("2");
      expect(latest.tasks.map((x) => x.task)).toEqual(["a", "b", "c"]);
      const asked = await (await t.engine.run(v2, {}, { version: "1" })).result();
      expect(asked.version).toBe("1");
      expect(asked.planHash).toBe(compile(v1).planHash);
      expect(asked.tasks.map((x) => x.task)).toEqual(["a", "b"]);
      await expect(t.engine.run(v2, {}, { version: "7" })).rejects.toThrow(/version "7" of workflow "holdout" is not known to this engine \(known: 1, 2\)/);
      // A v1 run's history resumed through v2: the engine picks the run's own plan.
      const resumed = await (await t.engine.resume(v2, await t.history(asked.runId))).result();
      expect(resumed.planHash).toBe(compile(v1).planHash);
      expect(resumed.status).toBe("succeeded");
    } finally {
      await t.close();
    }
  });
});
