import { describe, expect, test } from "vitest";
import { z } from "zod";
import { compile } from "../../src/compiler/compile.js";
import { workflow } from "../../src/dsl/workflow.js";
import { stateGraph } from "../../src/plan/graph.js";
import { createRegistry } from "../../src/registry/registry.js";

function etl() {
  const wf = workflow("etl", { version: "1", input: z.object({ day: z.string() }) });
  const ingest = wf.state("ingest", { output: z.object({ loaded: z.number() }) });
  const extract = ingest.task("extract", { executor: "etl/extract", output: z.object({ rows: z.array(z.number()) }) });
  const clean = ingest.task("clean", { executor: "etl/clean", retries: 3, timeoutMs: 30_000 });
  const stats = ingest.task("stats", { executor: "etl/stats" });
  const load = ingest.task("load", { executor: "etl/load" });
  extract.then([clean, stats]);
  load.dependsOn(clean, stats);
  const report = wf.state("report");
  report.task("publish", { executor: "etl/publish" });
  ingest.transition(report, { when: (out) => out.loaded > 0 });
  ingest.transition(wf.state("empty", { final: true }));
  return wf;
}

describe("compiler - plan", () => {
  test("compiler - splits a state into phases in declaration order", () => {
    const plan = compile(etl());
    expect(plan.initialState).toBe("ingest");
    const ingest = plan.states[0]!;
    expect(ingest.phases).toEqual([["extract"], ["clean", "stats"], ["load"]]);
    expect(ingest.edges).toEqual([["extract", "clean"], ["extract", "stats"], ["clean", "load"], ["stats", "load"]]);
    expect(ingest.sinks).toEqual(["load"]);
    expect(ingest.criticalPath).toEqual(["extract", "clean", "load"]);
    expect(ingest.tasks.map((t) => [t.name, t.phase, t.parents, t.children])).toEqual([
      ["extract", 0, [], ["clean", "stats"]],
      ["clean", 1, ["extract"], ["load"]],
      ["stats", 1, ["extract"], ["load"]],
      ["load", 2, ["clean", "stats"], []],
    ]);
  });

  test("compiler - fills defaults and keeps the task's settings", () => {
    const [extract, clean] = compile(etl()).states[0]!.tasks;
    expect(extract).toMatchObject({ id: "ingest/extract", executor: "etl/extract", retries: 0, timeoutMs: null, backoff: { initialMs: 1000, maxMs: 30_000, factor: 2 }, inputSchema: null, description: null });
    expect(extract!.outputSchema).toMatchObject({ type: "object", properties: { rows: { type: "array" } } });
    expect(clean).toMatchObject({ retries: 3, timeoutMs: 30_000, outputSchema: null });
  });

  test("compiler - records transitions with their guard source, and final states", () => {
    const plan = compile(etl());
    const [ingest, report, empty] = plan.states;
    expect(ingest!.transitions).toEqual([
      { target: "report", index: 0, guard: "(out) => out.loaded > 0", description: null },
      { target: "empty", index: 1, guard: null, description: null },
    ]);
    expect(ingest!.final).toBe(false);
    expect(report!.final).toBe(true);
    expect(empty).toMatchObject({ final: true, tasks: [], phases: [], criticalPath: [] });
  });

  test("compiler - records a route by its router's name", () => {
    const wf = workflow("review", { version: "1" });
    const annotate = wf.state("annotate");
    const decide = annotate.task("decide", { executor: "rv/decide", output: z.object({ pathway: z.enum(["approve", "reject"]) }) });
    const publish = wf.state("publish");
    publish.task("push", { executor: "rv/push" });
    annotate.route(decide, { approve: publish, reject: annotate });
    expect(compile(wf).states[0]!.route).toEqual({ router: "decide", pathways: { approve: "publish", reject: "annotate" } });
  });

  test("compiler - collapses an edge declared twice", () => {
    const wf = workflow("w", { version: "1" });
    const s = wf.state("s");
    const a = s.task("a", { executor: "ns/a" });
    const b = s.task("b", { executor: "ns/b" });
    a.then(b);
    b.dependsOn(a);
    const state = compile(wf).states[0]!;
    expect(state.edges).toEqual([["a", "b"]]);
    expect(state.tasks[1]!.parents).toEqual(["a"]);
  });

  test("compiler - accepts executors the registry holds with agreeing schemas", () => {
    const registry = createRegistry();
    const rows = z.object({ rows: z.array(z.number()) });
    registry.namespace("etl").register("extract", () => ({ rows: [1] }), { output: rows });
    for (const name of ["clean", "stats", "load", "publish"]) registry.namespace("etl").register(name, () => ({}));
    expect(compile(etl(), { registry }).states).toHaveLength(3);
  });

  test("compiler - gives tools a graphology view of a compiled state", () => {
    const g = stateGraph(compile(etl()).states[0]!);
    expect(g.order).toBe(4);
    expect(g.size).toBe(4);
    expect(g.getNodeAttributes("clean")).toEqual({ executor: "etl/clean", phase: 1 });
    expect(g.outNeighbors("extract")).toEqual(["clean", "stats"]);
  });

  test("compiler - compiles a state of 10,000 tasks and 30,000 edges", () => {
    const n = 10_000;
    let seed = 7;
    const rnd = (k: number) => {
      seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0;
      return seed % k;
    };
    const wf = workflow("wide", { version: "1" });
    const s = wf.state("s");
    const shared = z.object({ v: z.number() });
    const tasks = Array.from({ length: n }, (_, i) => s.task(`t${i}`, { executor: "ns/x", output: shared }));
    const edges = new Set<string>();
    while (edges.size < 30_000) {
      const a = rnd(n);
      const b = rnd(n);
      if (a === b || edges.has(`${Math.min(a, b)}>${Math.max(a, b)}`)) continue;
      edges.add(`${Math.min(a, b)}>${Math.max(a, b)}`);
      tasks[Math.min(a, b)]!.then(tasks[Math.max(a, b)]!);
    }
    const state = compile(wf).states[0]!;
    expect(state.tasks).toHaveLength(n);
    expect(state.edges).toHaveLength(30_000);
    expect(state.phases.flat()).toHaveLength(n);
    expect(state.criticalPath).toHaveLength(state.phases.length);
    // One schema object converted once and shared.
    expect(state.tasks[0]!.outputSchema).toBe(state.tasks[n - 1]!.outputSchema);
  });
});
