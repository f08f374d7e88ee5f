/**
 * compile(workflow) -> Plan. Pure: no I/O, no clock, no logger.
 *
 * Per state it builds the DAG of the tasks, proves it acyclic (or reports the
 * cycle as an ordered path), and splits it into phases: topological generations,
 * the same as graphology-dag's `topologicalGenerations` (see graph.ts for why the
 * compiler uses a compact indexed graph). Every issue found anywhere is collected
 * first, then thrown as one WorkflowValidationError.
 */
import { WorkflowValidationError, type ValidationIssue } from "../errors/validation.js";
import type { Workflow } from "../dsl/workflow.js";
import type { Registry } from "../registry/registry.js";
import { computePlanHash } from "../plan/hash.js";
import { DEFAULT_PRIORITY, PLAN_FORMAT_VERSION, type Plan, type PlanState } from "../plan/schema.js";
import { compileState, type StateContext } from "./compile-state.js";
import { createSchemaCache } from "./schemas.js";
import { checkName, validateReachability } from "./validate-states.js";
import { validateWorkflowOptionKeys } from "./validate-options.js";
import { validateRunConcurrency } from "./validate-run-concurrency.js";
import { resolveTriggers } from "../triggers/resolve.js";

export interface CompileOptions {
  /** When given, every task's executor must be registered here, with agreeing schemas. Default: none (no registry checks). */
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
  validateWorkflowOptionKeys(wf, issues);
  if (typeof wf.options.version !== "string" || wf.options.version.length === 0) {
    issues.push({ code: "INVALID_VERSION", path: wf.name, message: `workflow "${wf.name}" needs a non-empty version string; pass one, e.g. workflow("${wf.name}", { version: "1" })` });
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
  const priority = wf.options.priority;
  if (priority !== undefined && !(Number.isInteger(priority) && priority >= 1 && priority <= 5)) {
    issues.push({ code: "INVALID_PRIORITY", path: wf.name, message: `workflow "${wf.name}" has priority ${String(priority)}; use a whole number from 1 (first) to 5 (last), or leave it out for 3` });
  }
  validateRunConcurrency(wf, issues);
  const initials = wf.states.filter((s) => s.options.initial === true);
  if (initials.length > 1) {
    issues.push({ code: "MULTIPLE_INITIAL_STATES", path: wf.name, message: `states ${initials.map((s) => `"${s.name}"`).join(", ")} of workflow "${wf.name}" are all marked initial; mark exactly one` });
  }
  const initial = (initials[0] ?? wf.states[0]!).name;

  const json = createSchemaCache();
  const ctx: StateContext = { wf, initial, registry: options.registry, issues, json };
  const states = wf.states.map((s) => compileState(ctx, s));
  validateReachability(wf, initial, issues);
  // Schedules and sources are checked here but are not part of the plan (nor its hash): changing one never strands a running run.
  resolveTriggers(wf, issues, options.registry);

  if (issues.length > 0) throw new WorkflowValidationError(wf.name, issues);
  const body = {
    formatVersion: PLAN_FORMAT_VERSION as typeof PLAN_FORMAT_VERSION,
    workflow: wf.name,
    version: wf.options.version,
    initialState: initial,
    inputSchema: json(wf.options.input),
    states: states as PlanState[],
    ...(priority !== undefined && priority !== DEFAULT_PRIORITY ? { priority } : {}),
  };
  return { ...body, planHash: computePlanHash(body) };
}
