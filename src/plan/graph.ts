/**
 * A graphology view of one compiled state, for tools and users that want graph
 * algorithms (paths, centrality, layouts) over a plan. The compiler itself works on
 * a compact indexed graph (src/compiler/graph.ts); this view is built on demand.
 */
import graphology from "graphology";
import type { DirectedGraph } from "graphology";
import type { PlanState } from "./schema.js";

/**
 * Named from graphology's declarations rather than from the default import, so the
 * published type reads the same whatever `esModuleInterop` the user's tsconfig has.
 */
export type StateGraph = DirectedGraph;

/**
 * The state's task DAG as a graphology `DirectedGraph`: one node per task (attributes
 * `executor` and `phase`), one edge per `[parent, child]` pair.
 * @example
 * import { topologicalGenerations } from "graphology-dag";
 * topologicalGenerations(stateGraph(plan.states[0])); // the same sets as plan.states[0].phases
 */
export function stateGraph(state: PlanState): StateGraph {
  const g = new graphology.DirectedGraph({ allowSelfLoops: false, multi: false });
  for (const t of state.tasks) g.addNode(t.name, { executor: t.executor, phase: t.phase });
  for (const [from, to] of state.edges) g.addEdge(from, to);
  return g;
}
