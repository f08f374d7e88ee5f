// The four examples compile to the phases, transitions and routes worked out by hand
// from their definitions, and each compiles against its executors' registry (so
// executor keys exist and declared schemas agree).
import { describe, expect, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { WorkflowValidationError } from "../../src/errors/validation.js";
import type { Plan, PlanState } from "../../src/plan/schema.js";
import { planSchema } from "../../src/plan/schema.js";
import { loadModule } from "../../src/cli/load-module.js";
import { etl } from "../../examples/etl.js";
import { reviewRouting } from "../../examples/review-routing.js";
import { studyGrid } from "../../examples/study-grid.js";
import { agents } from "../../examples/agents.js";
import { registry as etlRegistry } from "../../workers/etl.js";
import { registry as reviewRegistry } from "../../workers/review.js";
import { registry as studyRegistry } from "../../workers/study.js";
import { registry as agentsRegistry } from "../../workers/agents.js";
import { taskSeed } from "../../src/runtime/core/seed.js";

const state = (plan: Plan, name: string): PlanState => {
  const s = plan.states.find((x) => x.name === name);
  if (!s) throw new Error(`no state ${name}`);
  return s;
};
const leaving = (s: PlanState) => s.transitions.map((t) => [t.target, t.guard === null ? "fallback" : "guard"]);
const guardOf = (wf: { states: { name: string; transitions: { when?: ((o: never) => boolean) | undefined }[] }[] }, from: string, i: number) =>
  wf.states.find((s) => s.name === from)!.transitions[i]!.when as (out: unknown) => boolean;

describe("examples - etl", () => {
  const plan = compile(etl, { registry: etlRegistry });

  it("examples - etl fans out after extract and fans in to load", () => {
    expect(plan.states.map((s) => s.name)).toEqual(["ingest", "report", "empty"]);
    const ingest = state(plan, "ingest");
    expect(ingest.initial).toBe(true);
    expect(ingest.phases).toEqual([["extract"], ["clean", "dedupe", "stats"], ["load"]]);
    expect(ingest.sinks).toEqual(["load"]);
    expect(ingest.criticalPath).toHaveLength(3);
    expect(ingest.tasks.find((t) => t.name === "extract")).toMatchObject({ retries: 2, timeoutMs: 10_000 });
    expect(state(plan, "report").phases).toEqual([["summarize"]]);
  });

  it("examples - etl goes to report when rows were loaded, else to the empty final state", () => {
    expect(leaving(state(plan, "ingest"))).toEqual([["report", "guard"], ["empty", "fallback"]]);
    const empty = state(plan, "empty");
    expect(empty).toMatchObject({ final: true, tasks: [], phases: [] });
    const toReport = guardOf(etl, "ingest", 0);
    expect(toReport({ loaded: 3 })).toBe(true);
    expect(toReport({ loaded: 0 })).toBe(false);
  });
});

describe("examples - review-routing", () => {
  const plan = compile(reviewRouting, { registry: reviewRegistry });

  it("examples - review-routing annotates in a chain of three phases and routes by decide", () => {
    const annotate = state(plan, "annotate");
    expect(annotate.phases).toEqual([["fetch"], ["label"], ["decide"]]);
    expect(annotate.maxVisits).toBe(5);
    expect(annotate.transitions).toEqual([]);
    expect(annotate.route).toEqual({ router: "decide", pathways: { approve: "publish", reject: "annotate", escalate: "escalated" } });
  });

  it("examples - review-routing ends in publish or escalated, each with one task", () => {
    expect(state(plan, "publish")).toMatchObject({ final: true, phases: [["publish"]] });
    expect(state(plan, "escalated")).toMatchObject({ final: true, phases: [["expert-review"]] });
  });
});

describe("examples - study-grid", () => {
  const plan = compile(studyGrid, { registry: studyRegistry });

  it("examples - study-grid plans the cells, maps over them in one node, then aggregates", () => {
    const grid = state(plan, "grid");
    expect(plan.states.map((s) => s.name)).toEqual(["grid"]);
    expect(grid.final).toBe(true);
    expect(grid.phases).toEqual([["plan"], ["run"], ["aggregate"]]);
    const run = grid.tasks.find((t) => t.name === "run")!;
    expect(run.map).toMatchObject({ maxConcurrency: 32, toleratedFailures: 0 });
    expect(run.retries).toBe(1);
    expect(grid.tasks.find((t) => t.name === "plan")!.params).toEqual({ estimators: ["plain", "antithetic", "stratified", "control"], sampleSizes: [1000, 4000, 16000], replicates: 5 });
    expect(grid.tasks.find((t) => t.name === "aggregate")!.parents).toEqual(["plan", "run"]);
    expect(grid.sinks).toEqual(["aggregate"]);
  });

  it("examples - study-grid gives every cell its own seed", () => {
    expect(new Set(Array.from({ length: 60 }, (_, k) => taskSeed(7, "grid/run", k))).size).toBe(60);
  });
});

describe("examples - agents", () => {
  const plan = compile(agents, { registry: agentsRegistry });

  it("examples - agents goes design -> code -> test with one or two phases each", () => {
    expect(plan.initialState).toBe("design");
    expect(state(plan, "design").phases).toEqual([["design"]]);
    expect(state(plan, "code").phases).toEqual([["implement"]]);
    expect(state(plan, "test").phases).toEqual([["cases"], ["run-tests"]]);
    expect(leaving(state(plan, "design"))).toEqual([["code", "fallback"]]);
    expect(leaving(state(plan, "code"))).toEqual([["test", "fallback"]]);
  });

  it("examples - agents loops back to design on failure while attempts remain", () => {
    expect(leaving(state(plan, "test"))).toEqual([["done", "guard"], ["design", "guard"], ["gave-up", "fallback"]]);
    const passed = guardOf(agents, "test", 0);
    const retry = guardOf(agents, "test", 1);
    expect(passed({ passed: true, attempt: 1, maxAttempts: 3 })).toBe(true);
    expect(retry({ passed: false, attempt: 2, maxAttempts: 3 })).toBe(true);
    expect(retry({ passed: false, attempt: 3, maxAttempts: 3 })).toBe(false);
    expect(state(plan, "gave-up")).toMatchObject({ final: true, tasks: [] });
    expect(state(plan, "done").phases).toEqual([["release"]]);
  });
});

describe("examples - all", () => {
  const all = [
    ["examples/etl.ts", etl, etlRegistry],
    ["examples/review-routing.ts", reviewRouting, reviewRegistry],
    ["examples/study-grid.ts", studyGrid, studyRegistry],
    ["examples/agents.ts", agents, agentsRegistry],
  ] as const;

  it.each(all)("examples - %s exports exactly one workflow, whose plan parses with planSchema", async (file, wf, registry) => {
    const mod = await loadModule(file);
    expect(mod.workflows.map((w) => w.workflow)).toEqual([wf]);
    expect(() => planSchema.parse(compile(wf, { registry }))).not.toThrow();
  });

  it("examples - executor keys are namespaced per example", () => {
    for (const [, wf] of all) {
      const namespaces = new Set(compile(wf).states.flatMap((s) => s.tasks.map((t) => t.executor.split("/")[0])));
      expect([...namespaces]).toEqual([{ etl: "etl", "review-routing": "review", "study-grid": "study", agents: "agents" }[wf.name]]);
    }
  });

  it("examples - compiling against another example's registry reports the missing executors", () => {
    const err = (() => {
      try {
        compile(etl, { registry: reviewRegistry });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(WorkflowValidationError);
    const issues = (err as WorkflowValidationError).issues;
    expect(issues.map((i) => i.code)).toEqual(Array(6).fill("EXECUTOR_NOT_REGISTERED"));
  });
});
