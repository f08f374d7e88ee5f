/**
 * Data flow inside a state (README "A workflow"), as pure functions over a plan state:
 *
 * - a root task's input is the state input;
 * - a task with one parent gets that parent's output as is;
 * - a task with several parents gets the shallow merge of their outputs that are
 *   plain objects, in phase order then declaration order (later wins on a key
 *   clash); outputs that are not plain objects (arrays, strings, null, ...) are left
 *   out of the merge and reach the task through `ctx.parents` only;
 * - the state's output is its single sink's output as is, or the same merge over
 *   all its sinks; a state without tasks passes its input through;
 * - a map node's output (the array of its instances' outputs) takes part in both
 *   under the map's name: a task after map "run" gets `{ run: [...] }`;
 * - an output stored as a payload (a reference, transport/payloads.ts) is not opened
 *   here: a merge with one is a merge reference, done by whoever resolves it.
 *
 * `layoutOf` precomputes, once per plan state, the orders these rules need.
 */
import type { PlanState, PlanTask } from "../../plan/schema.js";
import { isPayloadMerge, isPayloadRef, type PayloadMerge } from "../../transport/payloads.js";

export interface TaskLayout {
  readonly plan: PlanTask;
  readonly name: string;
  /** Declaration index in the state. */
  readonly index: number;
  /** Parents sorted by phase, then declaration order. */
  readonly parents: readonly string[];
  /** Children sorted by phase, then declaration order. */
  readonly children: readonly string[];
}

export interface StateLayout {
  readonly state: PlanState;
  readonly tasks: readonly TaskLayout[];
  readonly byName: ReadonlyMap<string, TaskLayout>;
  /** Sinks sorted by phase, then declaration order. */
  readonly sinks: readonly string[];
  /** Names of the state's map nodes: their outputs are merged under their names. */
  readonly maps: ReadonlySet<string>;
}

const layouts = new WeakMap<PlanState, StateLayout>();

/** The (cached) layout of a plan state. */
export function layoutOf(state: PlanState): StateLayout {
  const cached = layouts.get(state);
  if (cached) return cached;
  const order = new Map<string, PlanTask>();
  const indexOfTask = new Map<string, number>();
  state.tasks.forEach((t, i) => {
    order.set(t.name, t);
    indexOfTask.set(t.name, i);
  });
  const rank = (name: string): [number, number] => [order.get(name)?.phase ?? 0, indexOfTask.get(name) ?? 0];
  const sortByRank = (names: readonly string[]): string[] =>
    [...names].sort((a, b) => {
      const [pa, ia] = rank(a);
      const [pb, ib] = rank(b);
      return pa - pb || ia - ib;
    });
  const tasks = state.tasks.map((t, index): TaskLayout => ({ plan: t, name: t.name, index, parents: sortByRank(t.parents), children: sortByRank(t.children) }));
  const layout: StateLayout = {
    state,
    tasks,
    byName: new Map(tasks.map((t) => [t.name, t])),
    sinks: sortByRank(state.sinks),
    maps: new Set(state.tasks.filter((t) => t.map !== undefined).map((t) => t.name)),
  };
  layouts.set(state, layout);
  return layout;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * One name: that output as is. Several: the shallow merge of the plain-object
 * outputs, in the given order.
 * @example mergeOutputs(["a", "b"], new Map([["a", { x: 1 }], ["b", { y: 2 }]])) // { x: 1, y: 2 }
 */
export function mergeOutputs(names: readonly string[], outputs: ReadonlyMap<string, unknown>, maps: ReadonlySet<string> = NO_MAPS): unknown {
  if (names.length === 1 && !maps.has(names[0]!)) return outputs.get(names[0]!);
  let merged: Record<string, unknown> = {};
  let parts: unknown[] | undefined;
  for (const name of names) {
    const out = outputs.get(name);
    if (maps.has(name)) merged[name] = out;
    else if (isPlainObject(out)) {
      if (isPayloadRef(out) || isPayloadMerge(out)) {
        // A value stored as a payload is merged by whoever resolves it (transport/payloads.ts).
        (parts ??= []).push(merged, out);
        merged = {};
      } else Object.assign(merged, out);
    }
  }
  return parts === undefined ? merged : ({ $pfmerge: [...parts, merged] } satisfies PayloadMerge);
}

const NO_MAPS: ReadonlySet<string> = new Set();

/** A task's input and its `ctx.parents`, from the state input and the outputs so far. */
export function taskInputOf(task: TaskLayout, stateInput: unknown, outputs: ReadonlyMap<string, unknown>, maps?: ReadonlySet<string>): { input: unknown; parents: Record<string, unknown> } {
  if (task.parents.length === 0) return { input: stateInput, parents: {} };
  const parents: Record<string, unknown> = {};
  for (const p of task.parents) parents[p] = outputs.get(p);
  return { input: mergeOutputs(task.parents, outputs, maps), parents };
}

/** The state's output once every task succeeded. */
export function stateOutputOf(layout: StateLayout, stateInput: unknown, outputs: ReadonlyMap<string, unknown>): unknown {
  if (layout.tasks.length === 0) return stateInput;
  return mergeOutputs(layout.sinks, outputs, layout.maps);
}

/**
 * Whether a task's (checked) `input` is exactly what `mergeOutputs(names)` rebuilds from
 * `parents`, so a task message can carry the outputs once and name the merge
 * (`inputFrom`) instead of sending it again. Without an input schema it always is; with
 * one, only when the schema did not reshape the value (compared as JSON, what the wire sees).
 */
export function rebuildsFromParents(names: readonly string[], parents: Record<string, unknown>, input: unknown, hasSchema: boolean): boolean {
  if (names.length === 0) return false;
  if (!hasSchema) return true;
  try {
    return JSON.stringify(mergeOutputs(names, new Map(Object.entries(parents)))) === JSON.stringify(input);
  } catch {
    return false;
  }
}

/** A task message's input: sent as is, or rebuilt from its parents' outputs (`inputFrom`). */
export function inputOfMessage(m: { input?: unknown; parents: Record<string, unknown>; inputFrom?: readonly string[] | undefined }): unknown {
  if (m.inputFrom === undefined) return m.input;
  return mergeOutputs(m.inputFrom, new Map(Object.entries(m.parents)));
}
