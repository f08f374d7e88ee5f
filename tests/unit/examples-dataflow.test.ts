// Runs each example through its executors with a small reference interpreter of the
// data-flow rules (root input = state input; one parent = its output; several = shallow
// merge in phase order; state output = single sink's output or merge of sinks; an empty
// final state passes its input through; guards in order, routes by `pathway`), and
// compares the outcome with values computed independently by the workers' `expected*`
// functions and by hand. It needs no engine, so the examples are checked on their own —
// except study-grid, whose map node fans out at run time: it runs on the embedded engine.
import { describe, expect, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import type { Workflow } from "../../src/dsl/workflow.js";
import type { Registry } from "../../src/registry/registry.js";
import type { Logger, TaskContext } from "../../src/registry/types.js";
import { etl } from "../../examples/etl.js";
import { reviewRouting } from "../../examples/review-routing.js";
import { ESTIMATORS, REPLICATES, SAMPLE_SIZES, studyGrid } from "../../examples/study-grid.js";
import { createEngine } from "../../src/embedded/engine.js";
import { agents } from "../../examples/agents.js";
import { expectedEtl, registry as etlRegistry } from "../../workers/etl.js";
import { expectedReview, registry as reviewRegistry } from "../../workers/review.js";
import { expectedStudy, registry as studyRegistry, type StudyOutput } from "../../workers/study.js";
import { expectedAgents, registry as agentsRegistry } from "../../workers/agents.js";

const noop = (): void => undefined;
const log: Logger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, child: () => log };

interface Outcome {
  state: string;
  output: unknown;
  trail: string[];
}

async function interpret(wf: Workflow<unknown>, registry: Registry, rawInput: unknown): Promise<Outcome> {
  const plan = compile(wf, { registry });
  let input: unknown = wf.options.input ? wf.options.input.parse(rawInput) : rawInput;
  let name = plan.initialState;
  const visits = new Map<string, number>();
  const trail: string[] = [];
  for (;;) {
    const ps = plan.states.find((s) => s.name === name)!;
    const visit = (visits.get(name) ?? 0) + 1;
    visits.set(name, visit);
    if (visit > ps.maxVisits) throw new Error(`state ${name} exceeded ${ps.maxVisits} visits`);
    trail.push(name);
    const outputs = new Map<string, unknown>();
    for (const phase of ps.phases) {
      for (const taskName of phase) {
        const t = ps.tasks.find((x) => x.name === taskName)!;
        const parents = [...t.parents].sort((a, b) => ps.tasks.findIndex((x) => x.name === a) - ps.tasks.findIndex((x) => x.name === b));
        const parentOutputs = parents.map((p) => outputs.get(p));
        const taskInput = parents.length === 0 ? input : parents.length === 1 ? parentOutputs[0] : Object.assign({}, ...parentOutputs);
        const entry = registry.resolve(t.executor);
        const ctx: TaskContext = {
          runId: "r1", taskId: t.id, state: name, task: t.name, visit, attempt: 1,
          signal: new AbortController().signal, log, parents: Object.fromEntries(parents.map((p) => [p, outputs.get(p)])),
          idempotencyKey: `r1/${t.id}/${visit}`, params: t.params, seed: 0, item: undefined, progress: noop, heartbeat: noop,
        };
        const out = await entry.fn(entry.input ? entry.input.parse(taskInput) : taskInput, ctx);
        outputs.set(t.name, entry.output ? entry.output.parse(out) : out);
      }
    }
    const sinks = ps.sinks.map((s) => outputs.get(s));
    const output = ps.tasks.length === 0 ? input : sinks.length === 1 ? sinks[0] : Object.assign({}, ...sinks);
    if (ps.final) return { state: name, output, trail };
    if (ps.route) {
      name = ps.route.pathways[(outputs.get(ps.route.router) as { pathway: string }).pathway]!;
    } else {
      const declared = wf.states.find((s) => s.name === name)!.transitions;
      const i = declared.findIndex((t) => t.when === undefined || (t.when as (o: unknown) => boolean)(output));
      name = ps.transitions[i]!.target;
    }
    input = output;
  }
}

describe("examples - etl data flow", () => {
  it("examples - etl loads the generated day and reports it", async () => {
    const input = { day: "2026-11-01", rows: 200, seed: 7 };
    const run = await interpret(etl, etlRegistry, input);
    const expected = expectedEtl(input);
    expect(run.trail).toEqual(["ingest", "report"]);
    expect(run.state).toBe(expected.state);
    expect(run.output).toEqual(expected.output);
    const out = run.output as { loaded: number; summary: string };
    expect(out.loaded).toBeGreaterThan(150);
    expect(out.loaded).toBeLessThan(200);
    expect(out.summary).toMatch(/^2026-11-01: loaded \d+ orders \(\d+ rejected, \d+ duplicates\); amount mean \d+\.\d\d/);
  });

  it("examples - etl with no rows ends in the empty state with the ingest summary", async () => {
    const input = { day: "2026-11-02", rows: 0, seed: 1 };
    const run = await interpret(etl, etlRegistry, input);
    expect(run.trail).toEqual(["ingest", "empty"]);
    expect(run.output).toEqual(expectedEtl(input).output);
    expect(run.output).toMatchObject({ loaded: 0, rejected: 0, duplicates: 0, stats: { count: 0, mean: null } });
  });
});

describe("examples - review-routing data flow", () => {
  it.each(Array.from({ length: 12 }, (_, i) => `item-${i + 1}`))("examples - review-routing settles %s as replayed independently", async (itemId) => {
    const run = await interpret(reviewRouting, reviewRegistry, { itemId });
    const expected = expectedReview({ itemId });
    expect(run.state).toBe(expected.state);
    expect(run.output).toEqual(expected.output);
    expect(run.trail).toEqual([...expected.pathways.map(() => "annotate"), expected.state]);
  });

  it("examples - review-routing loops back to annotate after a rejection", async () => {
    const run = await interpret(reviewRouting, reviewRegistry, { itemId: "item-9" });
    expect(run.trail).toEqual(["annotate", "annotate", "annotate", "publish"]);
    expect(run.output).toMatchObject({ status: "published", visits: 3 });
    expect((run.output as { rejectedLabels: string[] }).rejectedLabels).toHaveLength(2);
  });

  it("examples - review-routing escalates to the expert", async () => {
    const run = await interpret(reviewRouting, reviewRegistry, { itemId: "item-2" });
    expect(run.trail).toEqual(["annotate", "escalated"]);
    expect(run.output).toMatchObject({ status: "escalated", visits: 1 });
  });
});

describe("examples - study-grid data flow", () => {
  it("examples - study-grid aggregates 60 seeded map instances into per-estimator statistics", async () => {
    const engine = createEngine({ registry: studyRegistry });
    try {
      const run = await (await engine.run(studyGrid, { integrand: "exp" }, { seed: 7 })).result();
      expect(run.status).toBe("succeeded");
      const out = run.output as StudyOutput;
      expect(run.states.map((s) => s.name)).toEqual(["grid"]);
      expect(out).toEqual(expectedStudy({ integrand: "exp" }, 7, { estimators: [...ESTIMATORS], sampleSizes: [...SAMPLE_SIZES], replicates: REPLICATES }));
      expect(out.runs).toBe(60);
      expect(out.cells).toHaveLength(12);
      // The reference is the exact integral of e^x on [0, 1]; every cell's mean lands near it.
      expect(out.reference).toBeCloseTo(Math.E - 1, 9);
      for (const c of out.cells) expect(Math.abs(c.mean - (Math.E - 1))).toBeLessThan(0.05);
      // Variance reduction is real: stratified sampling beats plain Monte Carlo at every size.
      for (const n of SAMPLE_SIZES) {
        const rmse = (e: string) => out.cells.find((c) => c.estimator === e && c.samples === n)!.rmse;
        expect(rmse("stratified")).toBeLessThan(rmse("plain"));
      }
      // The same seed gives the same study; another seed another one.
      const again = await (await engine.run(studyGrid, { integrand: "exp" }, { seed: 7 })).result();
      expect(again.output).toEqual(out);
      const other = await (await engine.run(studyGrid, { integrand: "exp" }, { seed: 8 })).result();
      expect(other.output).not.toEqual(out);
    } finally {
      await engine.close();
    }
  });
});

describe("examples - agents data flow", () => {
  it("examples - agents passes on the first attempt when the first design is right", async () => {
    const run = await interpret(agents, agentsRegistry, { problem: "sort-asc", seed: 1 });
    expect(run.trail).toEqual(["design", "code", "test", "done"]);
    expect(run.output).toEqual(expectedAgents({ problem: "sort-asc", seed: 1 }).output);
    expect(run.output).toMatchObject({ attempts: 1, status: "passed" });
  });

  it("examples - agents loops back to design until the tests pass", async () => {
    const input = { problem: "sort-desc" as const, seed: 3 };
    const run = await interpret(agents, agentsRegistry, input);
    const loop = ["design", "code", "test"];
    expect(run.trail).toEqual([...loop, ...loop, ...loop, "done"]);
    expect(run.output).toEqual(expectedAgents(input).output);
    expect(run.output).toMatchObject({ attempts: 3, source: 'xs => mergeSort(xs, by(x => x, "desc"))' });
  });

  it("examples - agents gives up when attempts run out", async () => {
    const input = { problem: "by-length" as const, seed: 3, maxAttempts: 1 };
    const run = await interpret(agents, agentsRegistry, input);
    expect(run.trail).toEqual(["design", "code", "test", "gave-up"]);
    expect(run.output).toEqual(expectedAgents(input).output);
    expect(run.output).toMatchObject({ passed: false, attempt: 1 });
  });
});
