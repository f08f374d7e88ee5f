/**
 * Graph work for one state: the graphology DAG, its phases (graphology-dag's
 * topological generations), an ordered cycle path when it is not acyclic
 * (graphology-dag only says "not acyclic"), and a critical path.
 */
import graphology from "graphology";
import { hasCycle, topologicalGenerations } from "graphology-dag";

export type TaskGraph = InstanceType<typeof graphology.DirectedGraph>;

/** Build the DAG of one state. `edges` are `[parent, child]`; duplicates are collapsed. */
export function buildGraph(tasks: readonly string[], edges: readonly (readonly [string, string])[]): TaskGraph {
  const g = new graphology.DirectedGraph({ allowSelfLoops: true, multi: false });
  for (const t of tasks) g.mergeNode(t);
  for (const [from, to] of edges) g.mergeEdge(from, to);
  return g;
}

/** Phases with tasks in declaration order; `order` maps task name -> declaration index. */
export function phasesOf(g: TaskGraph, order: ReadonlyMap<string, number>): string[][] {
  const gens = topologicalGenerations(g);
  for (const gen of gens) gen.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
  return gens;
}

export function isAcyclic(g: TaskGraph): boolean {
  return !hasCycle(g);
}

/**
 * One cycle of `g` as an ordered path that returns to its start: `["a","b","c","a"]`.
 * Iterative DFS with colours, so deep graphs do not overflow the stack.
 * Returns undefined when the graph is acyclic.
 */
export function findCycle(g: TaskGraph): string[] | undefined {
  const WHITE = 0, GREY = 1, BLACK = 2;
  const colour = new Map<string, number>();
  const parent = new Map<string, string>();
  for (const start of g.nodes()) {
    if ((colour.get(start) ?? WHITE) !== WHITE) continue;
    const stack: { node: string; next: string[]; i: number }[] = [{ node: start, next: g.outNeighbors(start), i: 0 }];
    colour.set(start, GREY);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.i >= top.next.length) {
        colour.set(top.node, BLACK);
        stack.pop();
        continue;
      }
      const n = top.next[top.i++]!;
      const c = colour.get(n) ?? WHITE;
      if (c === GREY) {
        // back edge top.node -> n closes a cycle n -> ... -> top.node -> n
        const path = [top.node];
        let cur = top.node;
        while (cur !== n) {
          cur = parent.get(cur)!;
          path.push(cur);
        }
        path.reverse();
        path.push(n);
        return path;
      }
      if (c === WHITE) {
        colour.set(n, GREY);
        parent.set(n, top.node);
        stack.push({ node: n, next: g.outNeighbors(n), i: 0 });
      }
    }
  }
  return undefined;
}

/** One longest chain of tasks (by task count), walking the phases in order. */
export function criticalPath(g: TaskGraph, phases: readonly (readonly string[])[]): string[] {
  const depth = new Map<string, number>();
  const via = new Map<string, string>();
  let best: string | undefined;
  let bestDepth = 0;
  for (const phase of phases) {
    for (const node of phase) {
      let d = 1;
      let from: string | undefined;
      g.forEachInNeighbor(node, (p) => {
        const pd = (depth.get(p) ?? 0) + 1;
        if (pd > d) {
          d = pd;
          from = p;
        }
      });
      depth.set(node, d);
      if (from !== undefined) via.set(node, from);
      if (d > bestDepth) {
        bestDepth = d;
        best = node;
      }
    }
  }
  const path: string[] = [];
  for (let cur = best; cur !== undefined; cur = via.get(cur)) path.push(cur);
  return path.reverse();
}
