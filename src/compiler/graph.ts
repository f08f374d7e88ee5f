/**
 * Graph work for one state. The state's DAG is a graphology `DirectedGraph`, split
 * into phases by graphology-dag's `topologicalGenerations` (`graphologyLayering`),
 * which also proves it acyclic (it throws on a cycle, confirmed with `hasCycle`). Around it, a
 * compact indexed copy (tasks numbered in declaration order, edges in typed arrays)
 * collapses duplicate edges, finds the ordered cycle path that graphology-dag does
 * not give, and walks the critical path — without an object per edge.
 *
 * Everything is iterative (no recursion), so deep chains cannot overflow the stack.
 */
import graphology from "graphology";
import { hasCycle, topologicalGenerations } from "graphology-dag";

/** A DAG (or a graph with a cycle, before it is rejected) over task indices `0..size-1`. */
export interface IndexedGraph {
  readonly size: number;
  /** Children of `i`: `outIdx[outStart[i] .. outStart[i + 1])`, ascending, no duplicates. */
  readonly outStart: Int32Array;
  readonly outIdx: Int32Array;
  /** Parents of `i`: `inIdx[inStart[i] .. inStart[i + 1])`, ascending, no duplicates. */
  readonly inStart: Int32Array;
  readonly inIdx: Int32Array;
}

/**
 * Build the graph from `count` edges `from[k] -> to[k]`. Duplicate edges collapse.
 * Counting sort, so O(size + edges) and no per-edge objects.
 */
export function buildGraph(size: number, from: Int32Array, to: Int32Array, count: number): IndexedGraph {
  // Out-adjacency by counting sort on `from`; then sort each run by `to` and drop repeats.
  const start = new Int32Array(size + 1);
  for (let k = 0; k < count; k++) start[from[k]! + 1]!++;
  for (let i = 0; i < size; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, size);
  const raw = new Int32Array(count);
  for (let k = 0; k < count; k++) raw[fill[from[k]!]!++] = to[k]!;

  const outStart = new Int32Array(size + 1);
  let w = 0;
  for (let i = 0; i < size; i++) {
    const lo = start[i]!;
    const hi = start[i + 1]!;
    if (hi - lo > 1) raw.subarray(lo, hi).sort();
    outStart[i] = w;
    for (let k = lo; k < hi; k++) {
      if (k > lo && raw[k] === raw[k - 1]) continue;
      raw[w++] = raw[k]!;
    }
  }
  outStart[size] = w;
  const outIdx = raw.slice(0, w);

  // In-adjacency: walking parents in ascending order keeps each parent list ascending.
  const inStart = new Int32Array(size + 1);
  for (let k = 0; k < w; k++) inStart[outIdx[k]! + 1]!++;
  for (let i = 0; i < size; i++) inStart[i + 1]! += inStart[i]!;
  const inFill = inStart.slice(0, size);
  const inIdx = new Int32Array(w);
  for (let p = 0; p < size; p++) {
    for (let k = outStart[p]!; k < outStart[p + 1]!; k++) inIdx[inFill[outIdx[k]!]!++] = p;
  }
  return { size, outStart, outIdx, inStart, inIdx };
}

/**
 * The state's graphology DAG and its phases from graphology-dag. Returns a layering
 * with `acyclic: false` (and no phases) when `hasCycle` finds a cycle.
 *
 * Nodes are keyed by declaration index (the task name is the `name` attribute):
 * integer-like keys make graphology's adjacency objects about twice as fast to build
 * as name keys on a 100,000-task state.
 */
export function graphologyLayering(g: IndexedGraph, nameOf: (i: number) => string): Layering {
  const dag = new graphology.DirectedGraph({ allowSelfLoops: true, multi: false });
  for (let i = 0; i < g.size; i++) dag.addNode(String(i), { name: nameOf(i) });
  for (let p = 0; p < g.size; p++) {
    for (let k = g.outStart[p]!; k < g.outStart[p + 1]!; k++) dag.addDirectedEdge(String(p), String(g.outIdx[k]!));
  }
  const phase = new Int32Array(g.size);
  const placed = new Uint8Array(g.size);
  if (g.size === 0) return { phase, depth: 0, placed, acyclic: true };
  let generations: string[][];
  try {
    generations = topologicalGenerations(dag);
  } catch (err) {
    // graphology-dag throws "given graph is not acyclic"; confirm with hasCycle rather than trust the text.
    if (hasCycle(dag)) return { phase, depth: 0, placed, acyclic: false };
    throw err;
  }
  generations.forEach((members, depth) => {
    for (const name of members) {
      const i = Number(name);
      phase[i] = depth;
      placed[i] = 1;
    }
  });
  return { phase, depth: generations.length, placed, acyclic: true };
}

export interface Layering {
  /** Phase of each task; meaningful only when `acyclic`. */
  readonly phase: Int32Array;
  /** Number of phases. */
  readonly depth: number;
  /** Tasks Kahn's algorithm could place; the others sit on or behind a cycle. */
  readonly placed: Uint8Array;
  readonly acyclic: boolean;
}

/**
 * Kahn's algorithm with generations: roots are phase 0, every other task is
 * 1 + the highest phase among its parents (the earliest phase it can run in).
 */
export function layer(g: IndexedGraph): Layering {
  const { size, outStart, outIdx, inStart } = g;
  const indegree = new Int32Array(size);
  const phase = new Int32Array(size);
  const placed = new Uint8Array(size);
  const queue = new Int32Array(size);
  let tail = 0;
  for (let i = 0; i < size; i++) {
    indegree[i] = inStart[i + 1]! - inStart[i]!;
    if (indegree[i] === 0) queue[tail++] = i;
  }
  let depth = size > 0 ? 1 : 0;
  for (let head = 0; head < tail; head++) {
    const p = queue[head]!;
    placed[p] = 1;
    const next = phase[p]! + 1;
    for (let k = outStart[p]!; k < outStart[p + 1]!; k++) {
      const c = outIdx[k]!;
      if (phase[c]! < next) phase[c] = next;
      const left = indegree[c]! - 1;
      indegree[c] = left;
      if (left === 0) {
        queue[tail++] = c;
        if (phase[c]! + 1 > depth) depth = phase[c]! + 1;
      }
    }
  }
  return { phase, depth, placed, acyclic: tail === size };
}

/** Task indices per phase, each phase in declaration order. */
export function phaseMembers(layering: Layering): Int32Array[] {
  const { phase, depth } = layering;
  const counts = new Int32Array(depth);
  for (let i = 0; i < phase.length; i++) counts[phase[i]!]!++;
  const members = Array.from(counts, (c) => new Int32Array(c));
  const fill = new Int32Array(depth);
  for (let i = 0; i < phase.length; i++) {
    const p = phase[i]!;
    members[p]![fill[p]!++] = i;
  }
  return members;
}

/**
 * One cycle as an ordered path of task indices that returns to its start:
 * `[a, b, c, a]`, or `[a, a]` for a self-loop. Iterative DFS with colours.
 * `skip` marks tasks known to be on no cycle (e.g. those Kahn placed).
 * Returns undefined when there is no cycle.
 */
export function findCycle(g: IndexedGraph, skip?: Uint8Array): number[] | undefined {
  const { size, outStart, outIdx } = g;
  const WHITE = 0, GREY = 1, BLACK = 2;
  const colour = new Uint8Array(size);
  const cursor = new Int32Array(size);
  const stack = new Int32Array(size);
  for (let root = 0; root < size; root++) {
    if (colour[root] !== WHITE || skip?.[root] === 1) continue;
    let top = 0;
    stack[0] = root;
    colour[root] = GREY;
    cursor[root] = outStart[root]!;
    while (top >= 0) {
      const node = stack[top]!;
      if (cursor[node]! >= outStart[node + 1]!) {
        colour[node] = BLACK;
        top--;
        continue;
      }
      const n = outIdx[cursor[node]!++]!;
      if (skip?.[n] === 1 || colour[n] === BLACK) continue;
      if (colour[n] === GREY) {
        // The back edge node -> n closes the cycle n -> ... -> node -> n, which is on the stack.
        let from = top;
        while (stack[from] !== n) from--;
        const path = Array.from(stack.subarray(from, top + 1));
        path.push(n);
        return path;
      }
      colour[n] = GREY;
      cursor[n] = outStart[n]!;
      stack[++top] = n;
    }
  }
  return undefined;
}

/**
 * One longest chain of tasks (by task count), as indices from a root to a task of
 * the last phase. Ties go to the task declared first.
 */
export function criticalPath(g: IndexedGraph, layering: Layering): number[] {
  const { phase, depth } = layering;
  if (depth === 0) return [];
  let cur = phase.indexOf(depth - 1);
  const path = [cur];
  while (phase[cur]! > 0) {
    const want = phase[cur]! - 1;
    for (let k = g.inStart[cur]!; k < g.inStart[cur + 1]!; k++) {
      const p = g.inIdx[k]!;
      if (phase[p] === want) {
        cur = p;
        break;
      }
    }
    path.push(cur);
  }
  return path.reverse();
}
