/**
 * What the coordinator needs from the workflow definition besides the plan — the
 * zod schemas and the `when` guards, which are code and cannot travel in the plan —
 * and the choice of the next state once a state's tasks are done:
 *
 * - a final state ends the run (next = null);
 * - a routed state goes where the router task's output `pathway` points;
 * - otherwise guarded transitions are tried in declaration order, the first whose
 *   `when(output)` returns true wins, a transition without `when` always matches.
 *
 * A guard that throws (GuardFailedError), a missing or unknown pathway or no matching
 * transition (NoTransitionError) fails the run.
 */
import type { ZodType } from "zod";
import type { WaitDef, Workflow } from "../../dsl/workflow.js";
import { GuardFailedError, NoTransitionError } from "../../errors/base.js";
import type { PlanState } from "../../plan/schema.js";
import { isPlainObject } from "./dataflow.js";

type Guard = (output: unknown) => boolean;

export interface Definitions {
  taskInput(state: string, task: string): ZodType | undefined;
  taskOutput(state: string, task: string): ZodType | undefined;
  stateOutput(state: string): ZodType | undefined;
  /** A map node's `items` function. */
  mapItems(state: string, task: string): ((input: unknown) => unknown) | undefined;
  /** The key function of a task's `concurrency` or `rateLimit`, when it declares one. */
  limitKey(state: string, task: string, kind: "concurrency" | "rateLimit"): ((input: unknown) => unknown) | undefined;
  /** The `when` of the state's transition number `index`, or undefined for a fallback. */
  guard(state: string, index: number): Guard | undefined;
  /** What a signal or sleep node waits for, as declared (its `until` function included). */
  wait(state: string, task: string): WaitDef | undefined;
}

const cache = new WeakMap<Workflow<unknown>, Definitions>();

/** Index a workflow definition's schemas and guards (cached per workflow object). */
export function definitionsOf(wf: Workflow<unknown>): Definitions {
  const cached = cache.get(wf);
  if (cached) return cached;
  const states = new Map<string, Workflow<unknown>["states"][number]>();
  const tasks = new Map<string, { input?: ZodType | undefined; output?: ZodType | undefined; items?: ((input: unknown) => unknown) | undefined; wait?: WaitDef | undefined; keys: { concurrency?: ((input: unknown) => unknown) | undefined; rateLimit?: ((input: unknown) => unknown) | undefined } }>();
  for (const s of wf.states) {
    if (!states.has(s.name)) states.set(s.name, s);
    for (const t of s.tasks) {
      const key = `${s.name}/${t.name}`;
      if (!tasks.has(key)) tasks.set(key, { input: t.options.input, output: t.options.output, items: t.map?.items, wait: t.wait, keys: { concurrency: t.options.concurrency?.key, rateLimit: t.options.rateLimit?.key } });
    }
  }
  const defs: Definitions = {
    taskInput: (state, task) => tasks.get(`${state}/${task}`)?.input,
    taskOutput: (state, task) => tasks.get(`${state}/${task}`)?.output,
    stateOutput: (state) => states.get(state)?.options.output,
    mapItems: (state, task) => tasks.get(`${state}/${task}`)?.items,
    limitKey: (state, task, kind) => tasks.get(`${state}/${task}`)?.keys[kind],
    guard: (state, index) => states.get(state)?.transitions[index]?.when as Guard | undefined,
    wait: (state, task) => tasks.get(`${state}/${task}`)?.wait,
  };
  cache.set(wf, defs);
  return defs;
}

/**
 * The next state after `state` finished with `output` (`outputs`: every task's output
 * by name, for the router), or null when the run ends here. `view` gives the value a guard
 * or the route reads (payload references looked up: payload-view.ts).
 * @throws GuardFailedError, NoTransitionError; whatever `view` throws (PayloadsNeeded)
 * @example decideNext(planState, definitionsOf(wf), { loaded: 3 }, outputs) // "report"
 */
export function decideNext(state: PlanState, defs: Definitions, output: unknown, outputs: ReadonlyMap<string, unknown>, view: (value: unknown) => unknown = (value) => value): string | null {
  if (state.final) return null;
  if (state.route) {
    const { router, pathways } = state.route;
    const routed = view(outputs.get(router));
    const pathway = isPlainObject(routed) ? routed.pathway : undefined;
    const known = Object.keys(pathways).map((p) => `"${p}"`).join(", ");
    if (typeof pathway !== "string") {
      throw new NoTransitionError(state.name, `router task "${router}" returned no string "pathway" (expected one of ${known}); return { pathway: "..." } from its executor`);
    }
    const target = Object.hasOwn(pathways, pathway) ? pathways[pathway] : undefined;
    if (target === undefined) {
      throw new NoTransitionError(state.name, `router task "${router}" returned pathway "${pathway}", which has no target (known: ${known}); add it to the route or return a known pathway`);
    }
    return target;
  }
  let seen: { value: unknown } | undefined;
  for (const t of state.transitions) {
    const when = defs.guard(state.name, t.index);
    if (when === undefined) return t.target;
    // Viewed once, outside the guard's try: a payload still to fetch is not the guard's failure.
    seen ??= { value: view(output) };
    let ok: boolean;
    try {
      ok = when(seen.value);
    } catch (err) {
      throw new GuardFailedError(state.name, t.target, t.index, err);
    }
    if (ok) return t.target;
  }
  const tried = state.transitions.map((t) => `"${t.target}"`).join(", ");
  throw new NoTransitionError(state.name, `no guard of its transitions to ${tried} returned true for its output; add a fallback transition (one without \`when\`)`);
}
