/**
 * One state of a workflow -> its PlanState: per-task checks, wiring checks, the
 * task DAG, its phases and critical path. Issues are appended to the caller's list;
 * a state with any issue yields no PlanState (the compile throws anyway).
 *
 * Built for large states (100,000 tasks): tasks are numbered once, edges go into
 * typed arrays, and nothing walks a list per task (no `includes`, no string keys
 * per edge).
 */
import type { ValidationIssue } from "../errors/validation.js";
import type { State, Task, Workflow } from "../dsl/workflow.js";
import type { Registry } from "../registry/registry.js";
import type { PlanState, PlanTask } from "../plan/schema.js";
import { DEFAULT_BACKOFF, DEFAULT_MAX_VISITS, DEFAULT_RETRIES } from "./defaults.js";
import { buildGraph, criticalPath, findCycle, graphologyLayering, layer, phaseMembers, type IndexedGraph } from "./graph.js";
import type { ToJsonSchema } from "./schemas.js";
import { validateTask } from "./validate-task.js";
import { planLimitsOf } from "./validate-limits.js";
import { validateStateOptionKeys, validateTaskOptionKeys } from "./validate-options.js";
import { planWaitOf } from "./compile-wait.js";
import { planMapOf, validateMapAndParams, validateMapRouters } from "./map.js";
import { checkName, isFinal, ownState, validateTransitions } from "./validate-states.js";

export interface StateContext {
  readonly wf: Workflow<unknown>;
  readonly initial: string;
  readonly registry: Registry | undefined;
  readonly issues: ValidationIssue[];
  readonly json: ToJsonSchema;
}

export function compileState(ctx: StateContext, s: State<string, unknown>): PlanState | undefined {
  const { wf, issues } = ctx;
  const sPath = `${wf.name}/${s.name}`;
  const before = issues.length;
  checkName("state", s.name, sPath, issues);
  validateStateOptionKeys(s, sPath, issues);
  const maxVisits = s.options.maxVisits ?? DEFAULT_MAX_VISITS;
  if (!Number.isInteger(maxVisits) || maxVisits < 1) {
    issues.push({ code: "INVALID_MAX_VISITS", path: sPath, message: `state "${s.name}" has maxVisits ${String(maxVisits)}; use a whole number >= 1, or leave it out for the default ${DEFAULT_MAX_VISITS}` });
  }
  // A final state may be an empty end marker (its output is its input, passed through,
  // as in `ingest.transition(wf.state("empty", { final: true }))`); any other state needs work to do.
  if (s.tasks.length === 0 && !isFinal(s)) {
    issues.push({ code: "EMPTY_STATE", path: sPath, message: `state "${s.name}" has no tasks; add one with ${s.name}.task("name", { executor: "ns/name" }), or make it a final state` });
  }

  const tasks = s.tasks;
  const n = tasks.length;
  const index = new Map<Task<string>, number>();
  const names = new Set<string>();
  let parentCount = 0;
  for (let i = 0; i < n; i++) {
    const t = tasks[i]!;
    const tPath = `${sPath}/${t.name}`;
    checkName("task", t.name, tPath, issues);
    if (names.has(t.name)) {
      issues.push({ code: "DUPLICATE_TASK", path: tPath, message: `task "${t.name}" is declared more than once in state "${s.name}"; task names must be unique within a state, so rename one` });
    }
    names.add(t.name);
    index.set(t, i);
    parentCount += t.parents.length;
    validateTask(t, tPath, ctx.registry, issues, ctx.json);
    validateTaskOptionKeys(t, tPath, issues);
    validateMapAndParams(t, tPath, issues);
  }
  validateMapRouters(s, sPath, issues);

  const from = new Int32Array(parentCount);
  const to = new Int32Array(parentCount);
  let edgeCount = 0;
  for (let c = 0; c < n; c++) {
    const child = tasks[c]!;
    for (const parent of child.parents) {
      const p = index.get(parent);
      if (p === undefined) {
        crossIssue(wf, s, parent, child, sPath, issues);
        continue;
      }
      from[edgeCount] = p;
      to[edgeCount] = c;
      edgeCount++;
    }
  }

  validateTransitions(wf, s, sPath, issues);

  const graph = buildGraph(n, from, to, edgeCount);
  // Duplicate names cannot be graphology node keys; that state fails anyway, so only look for cycles then.
  const layering = names.size === n ? graphologyLayering(graph, (i) => tasks[i]!.name) : layer(graph);
  if (!layering.acyclic) {
    const cycle = findCycle(graph, layer(graph).placed) ?? [];
    issues.push({ code: "CYCLE", path: sPath, message: `tasks of state "${s.name}" form a cycle: ${cycle.map((i) => tasks[i]!.name).join(" -> ")}; remove one of these edges` });
  }
  if (issues.length > before) return undefined;

  const nameOf = (i: number): string => tasks[i]!.name;
  const planTasks: PlanTask[] = new Array<PlanTask>(n);
  for (let i = 0; i < n; i++) planTasks[i] = planTask(s, tasks[i]!, i, graph, layering.phase[i]!, ctx.json);
  const sinks: string[] = [];
  for (let i = 0; i < n; i++) if (graph.outStart[i] === graph.outStart[i + 1]) sinks.push(nameOf(i));
  const route = s.routes[0];
  return {
    name: s.name,
    initial: s.name === ctx.initial,
    final: isFinal(s),
    maxVisits,
    tasks: planTasks,
    edges: edgeList(graph, nameOf),
    phases: phaseMembers(layering).map((members) => Array.from(members, nameOf)),
    sinks,
    transitions: s.transitions.map((t, i) => ({
      target: ownState(wf, t.target) ?? t.target.name,
      index: i,
      guard: t.when ? t.when.toString() : null,
      description: t.description ?? null,
    })),
    route: route
      ? {
          router: typeof route.router === "string" ? route.router : route.router.name,
          pathways: Object.fromEntries(Object.entries(route.pathways).map(([k, v]) => [k, v.name])),
        }
      : null,
    criticalPath: criticalPath(graph, layering).map(nameOf),
    outputSchema: ctx.json(s.options.output),
    description: s.options.description ?? null,
  };
}

/** Records why `parent -> child` is not an edge of state `s`: the parent lives elsewhere. */
function crossIssue(wf: Workflow<unknown>, s: State<string, unknown>, parent: Task<string>, child: Task<string>, sPath: string, issues: ValidationIssue[]): void {
  const path = `${sPath}/${child.name}`;
  if (parent.state.workflow !== wf) {
    issues.push({ code: "CROSS_WORKFLOW_EDGE", path, message: `task "${child.name}" in state "${s.name}" depends on "${parent.name}" of workflow "${parent.state.workflow.name}"; tasks can only depend on tasks of their own state` });
  } else {
    issues.push({ code: "CROSS_STATE_EDGE", path, message: `task "${child.name}" in state "${s.name}" depends on "${parent.name}" of state "${parent.state.name}"; wire tasks within one state, and pass data between states through the state output` });
  }
}

/** `[parent, child]` pairs, ordered by parent then child declaration order. */
function edgeList(g: IndexedGraph, nameOf: (i: number) => string): [string, string][] {
  const edges = new Array<[string, string]>(g.outIdx.length);
  let k = 0;
  for (let p = 0; p < g.size; p++) {
    const pn = nameOf(p);
    for (let e = g.outStart[p]!; e < g.outStart[p + 1]!; e++) edges[k++] = [pn, nameOf(g.outIdx[e]!)];
  }
  return edges;
}

function planTask(s: State<string, unknown>, t: Task<string>, i: number, g: IndexedGraph, phase: number, json: ToJsonSchema): PlanTask {
  const o = t.options;
  const tasks = s.tasks;
  const parents = new Array<string>(g.inStart[i + 1]! - g.inStart[i]!);
  for (let k = g.inStart[i]!, j = 0; k < g.inStart[i + 1]!; k++, j++) parents[j] = tasks[g.inIdx[k]!]!.name;
  const children = new Array<string>(g.outStart[i + 1]! - g.outStart[i]!);
  for (let k = g.outStart[i]!, j = 0; k < g.outStart[i + 1]!; k++, j++) children[j] = tasks[g.outIdx[k]!]!.name;
  return {
    name: t.name,
    id: `${s.name}/${t.name}`,
    executor: o.executor,
    retries: o.retries ?? DEFAULT_RETRIES,
    backoff: {
      initialMs: o.backoff?.initialMs ?? DEFAULT_BACKOFF.initialMs,
      maxMs: o.backoff?.maxMs ?? DEFAULT_BACKOFF.maxMs,
      factor: o.backoff?.factor ?? DEFAULT_BACKOFF.factor,
    },
    timeoutMs: o.timeoutMs ?? null,
    ...(o.queueTimeoutMs !== undefined ? { queueTimeoutMs: o.queueTimeoutMs } : {}),
    ...planLimitsOf(o),
    parents,
    children,
    phase,
    inputSchema: json(o.input),
    outputSchema: json(o.output),
    description: o.description ?? null,
    ...(o.params !== undefined ? { params: o.params } : {}),
    ...(t.map ? { map: planMapOf(t.map) } : {}),
    ...(t.wait ? { wait: planWaitOf(t)! } : {}),
  };
}
