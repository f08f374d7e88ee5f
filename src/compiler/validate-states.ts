/**
 * Workflow-level checks: names, duplicates, the initial state, transition and route
 * targets, routers, reachability, and whether a final state can be reached.
 */
import type { ValidationIssue } from "../errors/validation.js";
import type { State, StateRef, Workflow } from "../dsl/workflow.js";
import { checkKeyPart } from "../registry/keys.js";
import { pathwayEnum, toJsonSchema } from "./schemas.js";

export function checkName(kind: string, name: unknown, path: string, issues: ValidationIssue[]): void {
  const problem = typeof name === "string" ? checkKeyPart(name) : "must be a string";
  if (problem) issues.push({ code: "INVALID_NAME", path, message: `${kind} name "${String(name)}" ${problem}; rename it, e.g. "${suggestName(name)}"` });
}

/** A valid name close to `name`, for messages. */
function suggestName(name: unknown): string {
  const cleaned = String(name).replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "");
  return cleaned.length > 0 ? cleaned : "my-name";
}

/** Target name when `ref` is a state of `wf`, else undefined. */
export function ownState(wf: Workflow<unknown>, ref: StateRef): string | undefined {
  return wf.states.includes(ref as State<string, unknown>) ? ref.name : undefined;
}

/** The successors of every state (by name) that are known states of the workflow. */
export function successors(wf: Workflow<unknown>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of wf.states) {
    const next = out.get(s.name) ?? [];
    for (const t of s.transitions) {
      const n = ownState(wf, t.target);
      if (n !== undefined) next.push(n);
    }
    for (const r of s.routes) {
      for (const target of Object.values(r.pathways)) {
        const n = ownState(wf, target);
        if (n !== undefined) next.push(n);
      }
    }
    out.set(s.name, next);
  }
  return out;
}

export function isFinal(s: State<string, unknown>): boolean {
  return s.options.final === true || (s.transitions.length === 0 && s.routes.length === 0);
}

export function validateTransitions(wf: Workflow<unknown>, s: State<string, unknown>, path: string, issues: ValidationIssue[]): void {
  const describe = (ref: StateRef): string =>
    ref.workflow === wf ? `"${ref.name}"` : `"${ref.name}" of workflow "${ref.workflow.name}"`;
  for (const t of s.transitions) {
    if (ownState(wf, t.target) === undefined) {
      issues.push({ code: "UNKNOWN_TRANSITION_TARGET", path, message: `state "${s.name}" transitions to ${describe(t.target)}, which is not a state of workflow "${wf.name}"; declare it with ${wf.name}.state(...)` });
    }
  }
  if (s.options.final === true && (s.transitions.length > 0 || s.routes.length > 0)) {
    issues.push({ code: "FINAL_STATE_HAS_TRANSITIONS", path, message: `state "${s.name}" is declared final but has outgoing transitions; drop { final: true } or the transitions` });
  }
  if (s.routes.length > 1 || (s.routes.length === 1 && s.transitions.length > 0)) {
    issues.push({ code: "ROUTE_AND_TRANSITIONS", path, message: `state "${s.name}" has ${s.routes.length} route(s) and ${s.transitions.length} transition(s); a state leaves either by one route or by guarded transitions` });
  }
  for (const r of s.routes) {
    const routerName = typeof r.router === "string" ? r.router : r.router.name;
    const router = typeof r.router === "string" ? s.tasks.find((t) => t.name === r.router) : s.tasks.includes(r.router) ? r.router : undefined;
    if (!router) {
      const where = typeof r.router !== "string" && r.router.state !== s ? ` (it belongs to state "${r.router.state.name}")` : "";
      issues.push({ code: "UNKNOWN_ROUTER_TASK", path, message: `state "${s.name}" routes by task "${routerName}", which is not a task of this state${where}; route by one of its own tasks` });
    }
    const names = Object.keys(r.pathways);
    if (names.length === 0) {
      issues.push({ code: "ROUTE_PATHWAY_WITHOUT_TARGET", path, message: `state "${s.name}" has a route with no pathways; map each pathway name to a state` });
    }
    for (const [pathway, target] of Object.entries(r.pathways)) {
      if (ownState(wf, target) === undefined) {
        issues.push({ code: "UNKNOWN_ROUTE_TARGET", path, message: `state "${s.name}" routes pathway "${pathway}" to ${describe(target)}, which is not a state of workflow "${wf.name}"; route it to a state declared with ${wf.name}.state(...)` });
      }
    }
    const declared = router ? pathwayEnum(toJsonSchema(router.options.output)) : undefined;
    const missing = (declared ?? []).filter((p) => !names.includes(p));
    if (missing.length > 0) {
      issues.push({ code: "ROUTE_PATHWAY_WITHOUT_TARGET", path, message: `router "${routerName}" of state "${s.name}" may return pathway ${missing.map((m) => `"${m}"`).join(", ")} with no target; add ${missing.length === 1 ? "it" : "them"} to the route` });
    }
  }
}

/** Unreachable states, and states from which no final state can be reached. */
export function validateReachability(wf: Workflow<unknown>, initial: string, issues: ValidationIssue[]): void {
  const next = successors(wf);
  const reached = new Set<string>([initial]);
  const queue = [initial];
  for (let head = 0; head < queue.length; head++) {
    for (const n of next.get(queue[head]!) ?? []) {
      if (!reached.has(n)) {
        reached.add(n);
        queue.push(n);
      }
    }
  }
  for (const s of wf.states) {
    if (!reached.has(s.name)) {
      issues.push({ code: "UNREACHABLE_STATE", path: `${wf.name}/${s.name}`, message: `state "${s.name}" cannot be reached from the initial state "${initial}"; add a transition to it or remove it` });
    }
  }
  // Reverse reachability from final states.
  const prev = new Map<string, string[]>();
  for (const [from, tos] of next) {
    for (const to of tos) {
      const list = prev.get(to);
      if (list) list.push(from);
      else prev.set(to, [from]);
    }
  }
  const canFinish = new Set(wf.states.filter(isFinal).map((s) => s.name));
  const back = [...canFinish];
  for (let head = 0; head < back.length; head++) {
    for (const p of prev.get(back[head]!) ?? []) {
      if (!canFinish.has(p)) {
        canFinish.add(p);
        back.push(p);
      }
    }
  }
  if (!canFinish.has(initial)) {
    issues.push({ code: "NO_FINAL_STATE_REACHABLE", path: wf.name, message: `no final state can be reached from the initial state "${initial}"; give some state no outgoing transition or mark it { final: true }` });
    return;
  }
  for (const name of reached) {
    if (!canFinish.has(name)) {
      issues.push({ code: "NO_FINAL_STATE_REACHABLE", path: `${wf.name}/${name}`, message: `from state "${name}" no final state can be reached, so a run that enters it can only fail; add a transition out of its loop` });
    }
  }
}
