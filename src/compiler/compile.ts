/**
 * compile(workflow) -> Plan. Pure: no I/O, no clock, no logger.
 *
 * Per state it builds a graphology DAG of the tasks, proves it acyclic (or reports
 * the cycle as an ordered path), and splits it into phases with graphology-dag's
 * topological generations. Every issue found anywhere is collected first, then
 * thrown as one WorkflowValidationError.
 */
import { WorkflowValidationError, type ValidationIssue } from "../errors/validation.js";
import type { State, Task, Workflow } from "../dsl/workflow.js";
import type { Registry } from "../registry/registry.js";
import { computePlanHash } from "../plan/hash.js";
import { PLAN_FORMAT_VERSION, type Plan, type PlanState, type PlanTask } from "../plan/schema.js";
import { DEFAULT_BACKOFF, DEFAULT_MAX_VISITS, DEFAULT_RETRIES } from "./defaults.js";
import { buildGraph, criticalPath, findCycle, isAcyclic, phasesOf } from "./graph.js";
import { toJsonSchema } from "./schemas.js";
import { validateTask } from "./validate-task.js";
import { checkName, isFinal, ownState, validateReachability, validateTransitions } from "./validate-states.js";

export interface CompileOptions {
  /** When given, every task's executor must be registered here, with agreeing schemas. */
  registry?: Registry;
}

/**
 * Compile a workflow definition into a Plan.
 * @throws WorkflowValidationError listing every issue found.
 * @example
 * const plan = compile(etl, { registry });
 * console.log(plan.states[0].phases); // [["extract"], ["clean", "stats"], ["load"]]
 */
export function compile(wf: Workflow<unknown>, options: CompileOptions = {}): Plan {
  const issues: ValidationIssue[] = [];
  checkName("workflow", wf.name, wf.name, issues);
  if (typeof wf.options.version !== "string" || wf.options.version.length === 0) {
    issues.push({ code: "INVALID_NAME", path: wf.name, message: `workflow "${wf.name}" needs a non-empty version string, e.g. { version: "1" }` });
  }
  if (wf.states.length === 0) {
    issues.push({ code: "NO_STATES", path: wf.name, message: `workflow "${wf.name}" has no states; declare one with ${wf.name}.state("name")` });
    throw new WorkflowValidationError(wf.name, issues);
  }

  const seenStates = new Set<string>();
  for (const s of wf.states) {
    if (seenStates.has(s.name)) {
      issues.push({ code: "DUPLICATE_STATE", path: `${wf.name}/${s.name}`, message: `state "${s.name}" is declared more than once; give each state a unique name (or reuse the first handle)` });
    }
    seenStates.add(s.name);
  }
  const initials = wf.states.filter((s) => s.options.initial === true);
  if (initials.length > 1) {
    issues.push({ code: "MULTIPLE_INITIAL_STATES", path: wf.name, message: `states ${initials.map((s) => `"${s.name}"`).join(", ")} are all marked initial; mark exactly one` });
  }
  const initial = (initials[0] ?? wf.states[0]!).name;

  const states = wf.states.map((s) => compileState(wf, s, initial, options.registry, issues));
  validateReachability(wf, initial, issues);

  if (issues.length > 0) throw new WorkflowValidationError(wf.name, issues);
  const body = {
    formatVersion: PLAN_FORMAT_VERSION as typeof PLAN_FORMAT_VERSION,
    workflow: wf.name,
    version: wf.options.version,
    initialState: initial,
    inputSchema: toJsonSchema(wf.options.input),
    states: states.filter((s): s is PlanState => s !== undefined),
  };
  return { ...body, planHash: computePlanHash(body) };
}

function compileState(wf: Workflow<unknown>, s: State<string, unknown>, initial: string, registry: Registry | undefined, issues: ValidationIssue[]): PlanState | undefined {
  const sPath = `${wf.name}/${s.name}`;
  const before = issues.length;
  checkName("state", s.name, sPath, issues);
  const maxVisits = s.options.maxVisits ?? DEFAULT_MAX_VISITS;
  if (!Number.isInteger(maxVisits) || maxVisits < 1) {
    issues.push({ code: "INVALID_MAX_VISITS", path: sPath, message: `state "${s.name}" has maxVisits ${String(maxVisits)}; use a whole number >= 1` });
  }
  // A final state may be an empty end marker (its output is its input, passed through,
  // as in `ingest.transition(wf.state("empty", { final: true }))`); any other state needs work to do.
  if (s.tasks.length === 0 && !isFinal(s)) {
    issues.push({ code: "EMPTY_STATE", path: sPath, message: `state "${s.name}" has no tasks; add one with ${s.name}.task("name", { executor: "ns/name" }), or make it a final state` });
  }

  const order = new Map<string, number>();
  s.tasks.forEach((t, i) => {
    const tPath = `${sPath}/${t.name}`;
    checkName("task", t.name, tPath, issues);
    if (order.has(t.name)) {
      issues.push({ code: "DUPLICATE_TASK", path: tPath, message: `task "${t.name}" is declared more than once in state "${s.name}"; task names must be unique within a state` });
    } else {
      order.set(t.name, i);
    }
    validateTask(t, tPath, registry, issues);
  });

  const edges: [string, string][] = [];
  const edgeSeen = new Set<string>();
  for (const child of s.tasks) {
    for (const parent of child.parents) {
      if (!crossCheck(wf, s, parent, child, sPath, issues)) continue;
      const key = `${parent.name}\u0000${child.name}`;
      if (edgeSeen.has(key)) continue;
      edgeSeen.add(key);
      edges.push([parent.name, child.name]);
    }
  }

  validateTransitions(wf, s, sPath, issues);

  const graph = buildGraph([...order.keys()], edges);
  if (!isAcyclic(graph)) {
    const cycle = findCycle(graph) ?? [];
    issues.push({ code: "CYCLE", path: sPath, message: `tasks of state "${s.name}" form a cycle: ${cycle.join(" -> ")}; remove one of these edges` });
  }
  if (issues.length > before) return undefined;

  const phases = phasesOf(graph, order);
  const phaseOf = new Map<string, number>();
  phases.forEach((p, i) => p.forEach((t) => phaseOf.set(t, i)));
  const tasks: PlanTask[] = s.tasks.map((t) => planTask(s, t, graph, phaseOf.get(t.name) ?? 0));
  const routesOut = s.routes[0];
  return {
    name: s.name,
    initial: s.name === initial,
    final: isFinal(s),
    maxVisits,
    tasks,
    edges,
    phases,
    sinks: tasks.filter((t) => t.children.length === 0).map((t) => t.name),
    transitions: s.transitions.map((t, index) => ({
      target: ownState(wf, t.target) ?? t.target.name,
      index,
      guard: t.when ? t.when.toString() : null,
      description: t.description ?? null,
    })),
    route: routesOut
      ? {
          router: typeof routesOut.router === "string" ? routesOut.router : routesOut.router.name,
          pathways: Object.fromEntries(Object.entries(routesOut.pathways).map(([k, v]) => [k, v.name])),
        }
      : null,
    criticalPath: criticalPath(graph, phases),
    outputSchema: toJsonSchema(s.options.output),
    description: s.options.description ?? null,
  };
}

/** True when `parent -> child` stays inside state `s`; otherwise records why not. */
function crossCheck(wf: Workflow<unknown>, s: State<string, unknown>, parent: Task<string>, child: Task<string>, sPath: string, issues: ValidationIssue[]): boolean {
  if (parent.state === s) return true;
  const path = `${sPath}/${child.name}`;
  if (parent.state.workflow !== wf) {
    issues.push({ code: "CROSS_WORKFLOW_EDGE", path, message: `task "${child.name}" in state "${s.name}" depends on "${parent.name}" of workflow "${parent.state.workflow.name}"; tasks can only depend on tasks of their own state` });
  } else {
    issues.push({ code: "CROSS_STATE_EDGE", path, message: `task "${child.name}" in state "${s.name}" depends on "${parent.name}" of state "${parent.state.name}"; wire tasks within one state, and pass data between states through the state output` });
  }
  return false;
}

function planTask(s: State<string, unknown>, t: Task<string>, graph: ReturnType<typeof buildGraph>, phase: number): PlanTask {
  const o = t.options;
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
    parents: graph.inNeighbors(t.name),
    children: graph.outNeighbors(t.name),
    phase,
    inputSchema: toJsonSchema(o.input),
    outputSchema: toJsonSchema(o.output),
    description: o.description ?? null,
  };
}
