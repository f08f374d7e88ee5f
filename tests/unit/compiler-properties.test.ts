/**
 * Property tests over random graphs: random DAGs compile into phases that respect
 * every edge and place each task as early as its parents allow (and agree with
 * graphology-dag's topological generations); graphs with a cycle are rejected with
 * a CYCLE issue whose path is a real cycle of the graph.
 */
import fc from "fast-check";
import { topologicalGenerations } from "graphology-dag";
import { describe, expect, test } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { workflow } from "../../src/dsl/workflow.js";
import { stateGraph } from "../../src/plan/graph.js";
import { planSchema } from "../../src/plan/schema.js";
import { issuesOf } from "./compiler-helpers.js";

const RUNS = 200;

/** A one-state workflow with tasks t0..t(n-1), wired by `edges` ([parent, child] indices). */
function build(n: number, edges: readonly (readonly [number, number])[]) {
  const wf = workflow("prop", { version: "1" });
  const s = wf.state("s");
  const tasks = Array.from({ length: n }, (_, i) => s.task(`t${i}`, { executor: "ns/x" }));
  edges.forEach(([p, c], k) => {
    // Both ways of writing an edge.
    if (k % 2 === 0) tasks[p]!.then(tasks[c]!);
    else tasks[c]!.dependsOn(tasks[p]!);
  });
  return wf;
}

/** n tasks, a random order, and edges only from earlier to later in that order (so a DAG). */
const dagArb = fc.integer({ min: 1, max: 30 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    order: fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
    pairs: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 3 * n }),
  }),
);

function dagEdges(order: readonly number[], pairs: readonly (readonly [number, number])[]): [number, number][] {
  return pairs.filter(([i, j]) => i !== j).map(([i, j]) => [order[Math.min(i, j)]!, order[Math.max(i, j)]!]);
}

describe("compiler - properties of random graphs", () => {
  test("compiler - phases of a random DAG respect edges and are as early as possible", () => {
    fc.assert(
      fc.property(dagArb, ({ n, order, pairs }) => {
        const edges = dagEdges(order, pairs);
        const plan = compile(build(n, edges));
        expect(planSchema.parse(plan)).toEqual(plan);
        const state = plan.states[0]!;
        const phaseOf = new Map<string, number>();
        state.phases.forEach((members, p) => members.forEach((t) => {
          expect(phaseOf.has(t)).toBe(false); // in exactly one phase
          phaseOf.set(t, p);
        }));
        expect(phaseOf.size).toBe(n);
        for (const [p, c] of edges) expect(phaseOf.get(`t${p}`)!).toBeLessThan(phaseOf.get(`t${c}`)!);
        for (const task of state.tasks) {
          const expected = task.parents.length === 0 ? 0 : 1 + Math.max(...task.parents.map((p) => phaseOf.get(p)!));
          expect(task.phase).toBe(expected);
          expect(phaseOf.get(task.name)).toBe(expected);
        }
        // Same generations as graphology-dag's, and tasks keep declaration order within a phase.
        const oracle = topologicalGenerations(stateGraph(state)).map((g) => [...g].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1))));
        expect(state.phases).toEqual(oracle);
        // The critical path is a chain of edges through every phase.
        expect(state.criticalPath).toHaveLength(state.phases.length);
        const edgeSet = new Set(state.edges.map(([p, c]) => `${p}>${c}`));
        for (let i = 1; i < state.criticalPath.length; i++) expect(edgeSet.has(`${state.criticalPath[i - 1]}>${state.criticalPath[i]}`)).toBe(true);
        expect(edgeSet.size).toBe(new Set(edges.map(([p, c]) => `t${p}>t${c}`)).size);
      }),
      { numRuns: RUNS },
    );
  });

  test("compiler - rejects a random graph with a cycle and reports a real cycle", () => {
    const cyclicArb = dagArb.chain((g) =>
      fc.record({ g: fc.constant(g), from: fc.nat(g.n - 1), to: fc.nat(g.n - 1) }),
    );
    fc.assert(
      fc.property(cyclicArb, ({ g: { n, order, pairs }, from, to }) => {
        const edges = dagEdges(order, pairs);
        // Close a cycle: a forward chain order[lo] -> ... -> order[hi], then hi -> lo (a self-loop when lo == hi).
        const lo = Math.min(from, to);
        const hi = Math.max(from, to);
        for (let i = lo; i < hi; i++) edges.push([order[i]!, order[i + 1]!]);
        edges.push([order[hi]!, order[lo]!]);
        const issues = issuesOf(build(n, edges));
        const cycleIssues = issues.filter((i) => i.code === "CYCLE");
        expect(cycleIssues).toHaveLength(1);
        expect(cycleIssues[0]!.path).toBe("prop/s");
        const match = /form a cycle: (.*); remove/.exec(cycleIssues[0]!.message);
        const path = match![1]!.split(" -> ");
        expect(path.length).toBeGreaterThanOrEqual(2);
        expect(path[0]).toBe(path[path.length - 1]);
        const edgeSet = new Set(edges.map(([p, c]) => `t${p}>t${c}`));
        for (let i = 1; i < path.length; i++) expect(edgeSet.has(`${path[i - 1]}>${path[i]}`)).toBe(true);
        // A simple cycle: no task repeats except the closing one.
        expect(new Set(path).size).toBe(path.length - 1);
      }),
      { numRuns: RUNS },
    );
  });
});
