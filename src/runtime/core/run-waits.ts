/**
 * The decider's rules for signal and sleep nodes (README "Waiting for people and time"). Pure, like
 * the rest of the decider (decide.ts, decision.ts, decide-timers.ts), which calls in here at four points: a wait node is reached
 * (instead of dispatching it), a wait timer fires, a signal was folded, and resume.
 *
 * - A wait node holds no worker slot and sends no task message. Reached, it records
 *   `task.waiting` with its due time (a sleep's `until`, a signal's deadline) in the
 *   history, and arms a timer `wait:<task key>` at it. Resume re-arms it from the
 *   record, so a sleep that came due while no coordinator was up fires at once.
 * - Signals are stored by their senders on the run's report subject and folded in
 *   stored order (fold/waits.ts keeps those not consumed yet). A signal node reached
 *   takes the oldest pending signal of its name at once; one that waits takes the next
 *   one folded. Either way `task.waited` records which signal (its seq) it consumed,
 *   so a later visit of the node (a loop) waits for a new one.
 * - A signal node's deadline passing fails its wait with SIGNAL_TIMEOUT, which is
 *   retried (waiting again) per the node's retries and backoff, or — with `onTimeout` —
 *   succeeds with the given output (e.g. a pathway for a route).
 *
 * Timers longer than a platform timer allows are armed in steps (a timer firing early
 * just re-arms), so a sleep of weeks works.
 */
import type { ZodType } from "zod";
import { serializeError, type SerializedError } from "../../errors/serialize.js";
import { SignalPayloadInvalidError, SignalTimeoutError, SleepUntilError } from "../../errors/waits.js";
import type { PlanWait } from "../../plan/schema.js";
import type { DecisionEvent } from "../../transport/messages.js";
import type { Definitions } from "./definition.js";
import { checkOpened } from "./schema-check.js";
import { PayloadsNeeded } from "./payload-view.js";
import type { RunModel } from "./run-model.js";
import { isFinished, taskKey, type PendingSignal, type RunState, type Visit, type VisitTask } from "./run-state.js";
import { startChild, type ChildEffect } from "./children.js";

/** The longest a single timer is armed for (below setTimeout's 2^31-1 ms limit). */
export const MAX_TIMER_STEP_MS = 2 ** 31 - 1 - 60_000;

type WaitEffect = { type: "timer"; key: string; at: number } | { type: "cancelTimer"; key: string } | ChildEffect;

/** What of the decision under way these rules use (decision.ts). */
export interface WaitHost {
  readonly st: RunState;
  readonly now: number;
  readonly effects: { push(...effects: WaitEffect[]): number };
  emit(e: DecisionEvent): void;
  model(): RunModel & { defs: Definitions };
  /** A failed attempt: retry per policy or fail the task. */
  attemptFailed(v: Visit, vt: VisitTask, attempt: number, error: SerializedError): void;
  failTaskOf(v: Visit, vt: VisitTask, error: SerializedError, attempt: number): void;
  /** `value` with its payload references looked up (payload-view.ts). @throws PayloadsNeeded */
  view(value: unknown): unknown;
  need(err: PayloadsNeeded): void;
}

/** The deferred-timer key under which `matchSignals` waits for a signal payload its schema reads (decision.ts `resolved`). */
export const MATCH_SIGNALS = "match:signals";

export const waitKey = (state: string, visit: number, task: string): string => `wait:${taskKey(state, visit, task)}`;

const ref = (v: Visit, vt: VisitTask) => ({ state: v.state, visit: v.visit, task: vt.layout.name });

function arm(h: WaitHost, key: string, due: number): void {
  h.effects.push({ type: "timer", key, at: Math.min(due, h.now + MAX_TIMER_STEP_MS) });
}

/** The schema a signal node's payload must pass (its `schema`), if any. */
function signalSchema(h: WaitHost, v: Visit, vt: VisitTask): ZodType | undefined {
  return h.model().defs.taskOutput(v.state, vt.layout.name);
}

/** The oldest pending signal of `name` whose payload the node accepts, with the parsed payload. */
function pendingFor(h: WaitHost, v: Visit, vt: VisitTask, name: string): { signal: PendingSignal; payload: unknown } | undefined {
  const schema = signalSchema(h, v, vt);
  for (const s of h.st.signals) {
    if (s.name !== name) continue;
    if (!schema) return { signal: s, payload: s.payload };
    // Senders check payloads; one stored past them (a raw publish) that fails is left alone.
    // A payload over inlineBytes is checked on its value: fetched first (throws PayloadsNeeded).
    const checked = checkOpened(schema, s.payload, h.st.payloads, (issues) => new SignalPayloadInvalidError(h.st.runId, name, issues));
    if (checked.ok) return { signal: s, payload: checked.value };
  }
  return undefined;
}

function takeSignal(h: WaitHost, v: Visit, vt: VisitTask, attempt: number, found: { signal: PendingSignal; payload: unknown }): void {
  h.emit({ type: "task.waited", ...ref(v, vt), attempt, output: found.payload, signal: found.signal.seq });
}

/** The sleep's due time from its declaration and the node's input, or an error. */
function sleepDue(h: WaitHost, v: Visit, vt: VisitTask, wait: PlanWait & { kind: "sleep" }, input: unknown): number | SerializedError {
  if (wait.ms !== null) return h.now + wait.ms;
  const until = h.model().defs.wait(v.state, vt.layout.name);
  const fn = until?.kind === "sleep" ? until.until : undefined;
  const id = vt.layout.plan.id;
  if (typeof fn !== "function") return serializeError(new SleepUntilError(id, "is not in the loaded workflow module (is the coordinator serving another version?)"));
  const seen = h.view(input);
  let value: unknown;
  try {
    value = (fn as (input: unknown) => unknown)(seen);
  } catch (err) {
    return serializeError(new SleepUntilError(id, `threw: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
  }
  const ms = value instanceof Date ? value.getTime() : typeof value === "number" ? value : Number.NaN;
  if (!Number.isFinite(ms)) return serializeError(new SleepUntilError(id, `returned ${value instanceof Date ? "an invalid Date" : JSON.stringify(value) ?? String(value)}`));
  return ms;
}

/**
 * A wait node was reached (first attempt, or waiting again after a timeout): take a
 * pending signal, or record the wait and arm its timer.
 */
export function startWait(h: WaitHost, v: Visit, vt: VisitTask, attempt: number, input: unknown): void {
  const wait = vt.layout.plan.wait!;
  if (wait.kind === "child") {
    startChild(h, v, vt, attempt, input);
    return;
  }
  const key = waitKey(v.state, v.visit, vt.layout.name);
  if (wait.kind === "signal") {
    let found: ReturnType<typeof pendingFor>;
    try {
      found = pendingFor(h, v, vt, wait.signal);
    } catch (err) {
      // A pending signal's payload is being fetched for its schema: the node starts once it is (trigger "resolved").
      if (err instanceof PayloadsNeeded) return h.need(err);
      throw err;
    }
    if (found) {
      takeSignal(h, v, vt, attempt, found);
      return;
    }
    const deadline = wait.timeoutMs === null ? null : h.now + wait.timeoutMs;
    h.emit({ type: "task.waiting", ...ref(v, vt), attempt, wait: { kind: "signal", name: wait.signal, deadline } });
    if (deadline !== null) arm(h, key, deadline);
    return;
  }
  let due: number | SerializedError;
  try {
    due = sleepDue(h, v, vt, wait, input);
  } catch (err) {
    // `until` reads a payload not fetched yet: the sleep starts once it is (trigger "resolved").
    if (err instanceof PayloadsNeeded) return h.need(err);
    throw err;
  }
  if (typeof due !== "number") {
    h.failTaskOf(v, vt, due, attempt);
    return;
  }
  if (due <= h.now) {
    h.emit({ type: "task.waited", ...ref(v, vt), attempt, output: { sleptUntil: due } });
    return;
  }
  h.emit({ type: "task.waiting", ...ref(v, vt), attempt, wait: { kind: "sleep", until: due } });
  arm(h, key, due);
}

/** The waiting node of the visit under way named by a wait timer key, if it still waits. */
function waitingNode(h: WaitHost, key: string): { v: Visit; vt: VisitTask } | undefined {
  const v = h.st.visit;
  if (!v || isFinished(h.st)) return undefined;
  const [state, visit, task] = key.slice("wait:".length).split("\u0000");
  if (state !== v.state || Number(visit) !== v.visit) return undefined;
  const vt = v.tasks.get(task ?? "");
  if (!vt || vt.status !== "running" || !vt.record?.wait) return undefined;
  return { v, vt };
}

/** A wait timer fired: wake a sleep, or time a signal wait out. */
export function waitTimer(h: WaitHost, key: string): void {
  const node = waitingNode(h, key);
  if (!node) return;
  const { v, vt } = node;
  const wait = vt.record!.wait!;
  const attempt = vt.attempts;
  if (wait.kind === "child") return;
  const due = wait.kind === "sleep" ? wait.until : wait.deadline;
  if (due === null) return;
  if (h.now < due) {
    arm(h, key, due);
    return;
  }
  if (wait.kind === "sleep") {
    h.emit({ type: "task.waited", ...ref(v, vt), attempt, output: { sleptUntil: wait.until } });
    return;
  }
  const plan = vt.layout.plan.wait;
  if (plan?.kind === "signal" && plan.onTimeout !== null) {
    h.emit({ type: "task.waited", ...ref(v, vt), attempt, output: plan.onTimeout.output });
    return;
  }
  const ms = plan?.kind === "signal" ? (plan.timeoutMs ?? 0) : 0;
  h.attemptFailed(v, vt, attempt, serializeError(new SignalTimeoutError(vt.layout.plan.id, wait.name, ms)));
}

/** Give waiting signal nodes of the visit under way the pending signals they wait for (a signal was folded; resume). */
export function matchSignals(h: WaitHost): void {
  const v = h.st.visit;
  if (!v || isFinished(h.st) || h.st.signals.length === 0) return;
  for (const vt of v.tasks.values()) {
    const wait = vt.record?.wait;
    if (vt.status !== "running" || wait?.kind !== "signal") continue;
    let found: ReturnType<typeof pendingFor>;
    try {
      found = pendingFor(h, v, vt, wait.name);
    } catch (err) {
      if (!(err instanceof PayloadsNeeded)) throw err;
      // A signal's payload is being fetched for its schema: match again on `resolved` (decision.ts).
      h.st.deferredTimers.add(MATCH_SIGNALS);
      h.need(err);
      return;
    }
    if (!found) continue;
    h.effects.push({ type: "cancelTimer", key: waitKey(v.state, v.visit, vt.layout.name) });
    takeSignal(h, v, vt, vt.attempts, found);
    if (h.st.visit !== v || isFinished(h.st)) return;
  }
}

/** Re-arm the timers of the waiting nodes of the visit under way (resume): one past due fires at once. */
export function rearmWaits(h: WaitHost): void {
  const v = h.st.visit;
  if (!v) return;
  for (const vt of v.tasks.values()) {
    const wait = vt.record?.wait;
    if (vt.status !== "running" || !wait || wait.kind === "child") continue;
    const due = wait.kind === "sleep" ? wait.until : wait.deadline;
    if (due !== null) arm(h, waitKey(v.state, v.visit, vt.layout.name), due);
  }
}
