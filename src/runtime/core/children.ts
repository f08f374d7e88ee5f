/**
 * The decider's rules for child nodes (README "Workflows that call workflows"): `state.child` and `state.map` over a
 * workflow. Pure, like run-waits.ts, whose wait-node path calls in here: a child node is a
 * wait node that holds no worker slot and waits for the end of a run it started.
 *
 * - Reached, a child node records `task.waiting` with the child's run id and asks its shell
 *   to start the child (effect `startChild`). The id derives only from the parent run, the
 *   node (instance included), its state visit and the attempt (`childRunIdOf`), and the
 *   start is idempotent by id, so a coordinator that crashes anywhere around it never starts
 *   the child twice; a retry of the node (a new attempt) starts a new child run.
 * - The child's end is stored on the parent's report subject (`child.ended`, like a signal)
 *   by whoever drove the child to its end. The fold keeps the first end per child
 *   (fold/waits.ts); the waiting node takes it here: success -> `task.waited` with the child's
 *   output; failure or cancel -> a failed attempt (CHILD_FAILED / CHILD_CANCELLED), retried
 *   per the node's retries.
 * - Resume (a takeover) asks again for every child still waited for: the start is
 *   idempotent, and a child found ended already has its end stored again (a crash between
 *   the child's end and storing it on the parent loses nothing).
 * - Stopping a waiting child node (cancel, fail-fast, a failed map) cancels its child run.
 * - Depth is bounded: a child at depth > maxDepth (default 10) fails the node with
 *   CHILD_DEPTH_EXCEEDED, starting nothing.
 */
import { sha256Hex } from "../../support/hash.js";
import { ChildDepthError, ChildInputError, ChildRunFailedError } from "../../errors/children.js";
import { deserializeError, serializeError, type SerializedError } from "../../errors/serialize.js";
import type { DecisionEvent, ParentRef } from "../../transport/messages.js";
import { taskInputOf } from "./dataflow.js";
import { PayloadsNeeded } from "./payload-view.js";
import type { Definitions } from "./definition.js";
import type { RunModel } from "./run-model.js";
import { isFinished, taskKey, type ChildEnd, type RunState, type Visit, type VisitTask } from "./run-state.js";

/** How deep children may nest (a top-level run is depth 0, its children 1). */
export const DEFAULT_MAX_CHILD_DEPTH = 10;

/** What a shell needs to start a child run. */
export interface ChildStart {
  /** The child's run id (derived: see childRunIdOf). */
  readonly runId: string;
  readonly workflow: string;
  /** null: the latest version served. */
  readonly version: string | null;
  readonly input: unknown;
  readonly parent: ParentRef;
  /** The parent's priority when it has one other than the default: the child runs at it (else at its own workflow's default). */
  readonly priority?: number | undefined;
}

/** What every child start of this run carries from the run itself: its priority, when not the default. */
const inherited = (st: RunState): { priority?: number } => {
  const priority = st.record.options?.priority;
  return priority === undefined ? {} : { priority };
};

export type ChildEffect = { type: "startChild"; start: ChildStart } | { type: "cancelChild"; runId: string; reason: string };


/** What of the decision under way these rules use (decision.ts). */
export interface ChildHost {
  readonly st: RunState;
  readonly now: number;
  readonly effects: { push(...effects: ChildEffect[]): number };
  emit(e: DecisionEvent): void;
  model(): RunModel & { defs: Definitions };
  attemptFailed(v: Visit, vt: VisitTask, attempt: number, error: SerializedError): void;
  failTaskOf(v: Visit, vt: VisitTask, error: SerializedError, attempt: number): void;
  /** `value` with its payload references looked up (payload-view.ts). @throws PayloadsNeeded */
  view(value: unknown): unknown;
  need(err: PayloadsNeeded): void;
}

/** The deferred-timer key under which a resume's `ensureChildren` waits for a payload its `input` reads (decision.ts `resolved`). */
export const ENSURE_CHILDREN = "ensure:children";

const nameOf = (vt: VisitTask): string => vt.instance?.name ?? vt.layout.name;
const ref = (v: Visit, vt: VisitTask) => ({ state: v.state, visit: v.visit, task: nameOf(vt) });

/**
 * The id of the child run that attempt `attempt` of node `task` (a map instance: `each[2]`)
 * of visit `visit` of `state` starts: readable, at most 200 characters, and the same
 * whoever computes it.
 * @example childRunIdOf("run_1", "main", 1, "enrich", 1) // "run_1-enrich-<16 hex>"
 */
export function childRunIdOf(parentRunId: string, state: string, visit: number, task: string, attempt: number): string {
  const hash = sha256Hex(`${parentRunId}\u0000${state}\u0000${visit}\u0000${task}\u0000${attempt}`).slice(0, 16);
  const slug = task.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 40);
  return `${parentRunId.slice(0, 120)}-${slug}-${hash}`;
}

/**
 * The child node's input to its child run: the item (map instance), or `input(nodeInput)` when declared, else the node input.
 * The function sees the node input with its payloads looked up. @throws PayloadsNeeded
 */
function childInputOf(h: ChildHost, v: Visit, vt: VisitTask, nodeInput: unknown): { ok: true; value: unknown } | { ok: false; error: SerializedError } {
  const def = h.model().defs.wait(v.state, vt.layout.name);
  const fn = def?.kind === "child" ? def.input : undefined;
  if (vt.instance || typeof fn !== "function") return { ok: true, value: nodeInput };
  const seen = h.view(nodeInput);
  try {
    return { ok: true, value: (fn as (input: unknown) => unknown)(seen) };
  } catch (err) {
    return { ok: false, error: serializeError(new ChildInputError(vt.layout.plan.id, err)) };
  }
}

/** A child node was reached (first attempt, or again after a failed child): start its child run. */
export function startChild(h: ChildHost, v: Visit, vt: VisitTask, attempt: number, nodeInput: unknown): void {
  const wait = vt.layout.plan.wait;
  if (wait?.kind !== "child") return;
  const depth = (h.st.record.parent?.depth ?? 0) + 1;
  const maxDepth = DEFAULT_MAX_CHILD_DEPTH;
  if (depth > maxDepth) {
    h.failTaskOf(v, vt, serializeError(new ChildDepthError(vt.layout.plan.id, wait.workflow, maxDepth)), attempt);
    return;
  }
  let input: ReturnType<typeof childInputOf>;
  try {
    input = childInputOf(h, v, vt, nodeInput);
  } catch (err) {
    // Its input function reads a payload not fetched yet: the child starts once it is (trigger "resolved").
    if (err instanceof PayloadsNeeded) return h.need(err);
    throw err;
  }
  if (!input.ok) {
    h.failTaskOf(v, vt, input.error, attempt);
    return;
  }
  const runId = childRunIdOf(h.st.runId, v.state, v.visit, nameOf(vt), attempt);
  h.emit({ type: "task.waiting", ...ref(v, vt), attempt, wait: { kind: "child", runId, workflow: wait.workflow, version: wait.version } });
  const end = h.st.childEnds.get(runId);
  if (end) {
    settleChild(h, v, vt, runId, end);
    return;
  }
  h.effects.push({ type: "startChild", start: { runId, workflow: wait.workflow, version: wait.version, input: input.value, parent: { runId: h.st.runId, state: v.state, visit: v.visit, task: nameOf(vt), attempt, depth }, ...inherited(h.st) } });
}

function settleChild(h: ChildHost, v: Visit, vt: VisitTask, runId: string, end: ChildEnd): void {
  const attempt = vt.attempts;
  if (end.status === "succeeded") {
    h.emit({ type: "task.waited", ...ref(v, vt), attempt, output: end.output });
    return;
  }
  const wait = vt.record?.wait;
  const workflow = wait?.kind === "child" ? wait.workflow : "?";
  h.attemptFailed(v, vt, attempt, serializeError(new ChildRunFailedError(vt.layout.plan.id, runId, workflow, end.status, end.error && deserializeError(end.error))));
}

/** Waiting child nodes of the visit under way, with their child's run id. */
function* waitingChildren(st: RunState): Generator<{ v: Visit; vt: VisitTask; runId: string }> {
  const v = st.visit;
  if (!v || isFinished(st)) return;
  for (const vt of v.tasks.values()) {
    const wait = vt.record?.wait;
    if (vt.status === "running" && wait?.kind === "child") yield { v, vt, runId: wait.runId };
  }
}

/** Give waiting child nodes the ends folded for their children (a child.ended was folded; resume). */
export function matchChildren(h: ChildHost): void {
  const ready: { v: Visit; vt: VisitTask; runId: string; end: ChildEnd }[] = [];
  for (const w of waitingChildren(h.st)) {
    const end = h.st.childEnds.get(w.runId);
    if (end) ready.push({ ...w, end });
  }
  for (const { v, vt, runId, end } of ready) {
    if (h.st.visit !== v || isFinished(h.st)) return;
    if (vt.status === "running") settleChild(h, v, vt, runId, end);
  }
}

/**
 * Resume: ask again for every child still waited for. Starting is idempotent by id; a
 * child that ended already gets its end stored (again) on this run.
 */
export function ensureChildren(h: ChildHost): void {
  for (const { v, vt, runId } of [...waitingChildren(h.st)]) {
    if (h.st.childEnds.has(runId)) continue;
    const wait = vt.record!.wait as { kind: "child"; runId: string; workflow: string; version: string | null };
    const nodeInput = vt.instance ? h.st.maps.get(taskKey(v.state, v.visit, vt.layout.name))?.items[vt.instance.index] : taskInputOf(vt.layout, v.input, v.outputs, v.layout.maps).input;
    let input: ReturnType<typeof childInputOf>;
    try {
      input = childInputOf(h, v, vt, nodeInput);
    } catch (err) {
      if (!(err instanceof PayloadsNeeded)) throw err;
      h.need(err);
      h.st.deferredTimers.add(ENSURE_CHILDREN);
      continue;
    }
    const depth = (h.st.record.parent?.depth ?? 0) + 1;
    h.effects.push({ type: "startChild", start: { runId, workflow: wait.workflow, version: wait.version, input: input.ok ? input.value : undefined, parent: { runId: h.st.runId, state: v.state, visit: v.visit, task: nameOf(vt), attempt: vt.attempts, depth }, ...inherited(h.st) } });
  }
}

/** A waiting node is being stopped (cancel, fail-fast, its map failed): cancel its child run. */
export function cancelChildOf(h: Pick<ChildHost, "effects">, vt: VisitTask, reason: string): void {
  const wait = vt.record?.wait;
  if (wait?.kind === "child") h.effects.push({ type: "cancelChild", runId: wait.runId, reason });
}
