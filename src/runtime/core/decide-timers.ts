/**
 * The decider's timer rules: the timer keys, what a timer does when it fires (a retry
 * coming due, an attempt's timeout or queue deadline, the watchdog, a wait), an attempt
 * lost from the transport, a worker's start learned from a live signal, and re-arming
 * every timer of the visit under way on resume. When each attempt timer is due is
 * attempt-timers.ts; the decision under way is decision.ts (the `TimerHost`).
 */
import { AttemptLostError, PhaseflowError, QueueTimeoutError, TaskTimeoutError } from "../../errors/base.js";
import { serializeError, type SerializedError } from "../../errors/serialize.js";
import { WIRE_VERSION, type DecisionEvent } from "../../transport/messages.js";
import type { DecideSettings, Effect } from "./decide-api.js";
import { taskInputOf } from "./dataflow.js";
import { learnStart, queueDue, timeoutDue, timersAtResume, type AttemptTimer } from "./attempt-timers.js";
import { evolve, isFinished, taskKey, type RunState, type Visit, type VisitTask } from "./run-state.js";
import type { Checked } from "./schema-check.js";
import { rearmWaits, waitTimer, type WaitHost } from "./run-waits.js";

/** Timer keys: per attempt (timeout, watchdog, queue) and per task (retry due). */
const timeoutKey = (dispatchId: string): string => `timeout:${dispatchId}`;
const watchdogKey = (dispatchId: string): string => `watchdog:${dispatchId}`;
const queueKey = (dispatchId: string): string => `queue:${dispatchId}`;
const attemptTimerKey = (kind: AttemptTimer["kind"], dispatchId: string): string => `${kind}:${dispatchId}`;
export const retryKey = (state: string, visit: number, task: string): string => `retry:${taskKey(state, visit, task)}`;

/** What of the decision under way (decision.ts) these rules use. */
export interface TimerHost extends WaitHost {
  readonly st: RunState;
  readonly now: number;
  readonly settings: DecideSettings;
  readonly effects: Effect[];
  emit(e: DecisionEvent): void;
  ref(v: Visit, vt: VisitTask): { state: string; visit: number; task: string };
  checkInput(v: Visit, vt: VisitTask, input: unknown): Checked;
  sendAttempt(v: Visit, vt: VisitTask, attempt: number, input: unknown, parents: Record<string, unknown>): void;
  attemptFailed(v: Visit, vt: VisitTask, attempt: number, error: SerializedError): void;
  failTask(v: Visit, vt: VisitTask, error: SerializedError, attempt?: number): void;
}

/** Arm `timers` of an attempt. */
export function armAttempt(effects: Effect[], dispatchId: string, timers: readonly AttemptTimer[]): void {
  for (const t of timers) effects.push({ type: "timer", key: attemptTimerKey(t.kind, dispatchId), at: t.at });
}

/** The attempt settled or went away: its timers are of no use. */
export function disarmAttempt(effects: Effect[], dispatchId: string | undefined): void {
  if (dispatchId === undefined) return;
  effects.push({ type: "cancelTimer", key: timeoutKey(dispatchId) }, { type: "cancelTimer", key: watchdogKey(dispatchId) }, { type: "cancelTimer", key: queueKey(dispatchId) });
}

/** A worker started the attempt: its queue deadline is met, and its timeout runs from now on. */
export function attemptStarted(h: TimerHost, dispatchId: string, startedAt: number): void {
  const a = h.st.attempts.get(dispatchId);
  if (!a || h.st.verdicts.has(dispatchId)) return;
  const v = h.st.visit;
  const vt = v && v.state === a.task.state && v.visit === a.task.visit ? v.tasks.get(a.task.task) : undefined;
  if (!vt) return;
  const learned = learnStart(a, startedAt, vt.layout.plan.timeoutMs, h.settings);
  if (!learned) return;
  evolve(h.st, { type: "attempt.start", dispatchId, startedAt });
  for (const kind of learned.drop) h.effects.push({ type: "cancelTimer", key: attemptTimerKey(kind, dispatchId) });
  armAttempt(h.effects, dispatchId, learned.timers);
}

/** The timer `key` fired. */
export function timerFired(h: TimerHost, key: string, lastHeardAt: number | undefined): void {
  const v = h.st.visit;
  if (!v || isFinished(h.st)) return;
  const colon = key.indexOf(":");
  const kind = key.slice(0, colon);
  const rest = key.slice(colon + 1);
  if (kind === "wait") {
    waitTimer(h, key);
    return;
  }
  if (kind === "retry") {
    const [state, visit, task] = rest.split("\u0000");
    if (state !== v.state || Number(visit) !== v.visit) return;
    const vt = v.tasks.get(task ?? "");
    if (!vt || vt.status !== "retrying") return;
    const { input: merged, parents } = taskInputOf(vt.layout, v.input, v.outputs, v.layout.maps);
    const input = vt.instance ? h.st.maps.get(taskKey(v.state, v.visit, vt.layout.name))?.items[vt.instance.index] : merged;
    const checked = h.checkInput(v, vt, input);
    if (!checked.ok) h.failTask(v, vt, checked.error);
    else h.sendAttempt(v, vt, vt.attempts + 1, checked.value, parents);
    // Nothing sent: the attempt waits for a payload being fetched (payload-view.ts); this fires again on `resolved`.
    if (vt.status === "retrying") h.st.deferredTimers.add(key);
    return;
  }
  const a = h.st.attempts.get(rest);
  if (!a || h.st.verdicts.has(rest)) return;
  const t = a.task;
  if (t.state !== v.state || t.visit !== v.visit) return;
  const vt = v.tasks.get(t.task);
  if (!vt) return;
  if (kind === "timeout") {
    if (!timeoutDue(a, vt.layout.plan.timeoutMs, h.now, h.settings)) return;
    const ms = vt.layout.plan.timeoutMs ?? 0;
    h.effects.push({ type: "control", message: { v: WIRE_VERSION, type: "cancel.attempt", runId: h.st.runId, dispatchId: rest, reason: `timed out after ${ms} ms` } });
    disarmAttempt(h.effects, rest);
    h.attemptFailed(v, vt, a.attempt, serializeError(new TaskTimeoutError(vt.layout.plan.id, ms)));
  } else if (kind === "queue") {
    if (!queueDue(a, h.now)) return;
    const ms = vt.layout.plan.queueTimeoutMs ?? 0;
    h.effects.push({ type: "control", message: { v: WIRE_VERSION, type: "cancel.attempt", runId: h.st.runId, dispatchId: rest, reason: `not started within ${ms} ms (queueTimeoutMs)` } });
    disarmAttempt(h.effects, rest);
    h.attemptFailed(v, vt, a.attempt, serializeError(new QueueTimeoutError(vt.layout.plan.id, ms)));
  } else if (kind === "watchdog") {
    const heard = Math.max(a.dispatchedAt, lastHeardAt ?? 0);
    const silent = h.now - heard;
    if (silent < h.settings.watchdogMs) {
      h.effects.push({ type: "timer", key, at: heard + h.settings.watchdogMs });
      return;
    }
    lose(h, v, vt, a.attempt, rest, serializeError(new AttemptLostError(vt.layout.plan.id, silent)));
  }
}

/** An attempt nothing will come of: dispatch it again now (counted against maxLost), or fail its task. */
function lose(h: TimerHost, v: Visit, vt: VisitTask, attempt: number, dispatchId: string, error: SerializedError): void {
  disarmAttempt(h.effects, dispatchId);
  if (vt.lost >= h.settings.maxLost) {
    h.failTask(v, vt, error, attempt);
    return;
  }
  h.emit({ type: "task.retrying", ...h.ref(v, vt), attempt, nextAttempt: attempt + 1, dueAt: h.now, error });
  timerFired(h, retryKey(v.state, v.visit, h.ref(v, vt).task), undefined);
}

/** The `lost` trigger: only an attempt still waiting for its start (nothing heard, no report) is dispatched again. */
export function lostAttempt(h: TimerHost, dispatchId: string, reason: string): void {
  const v = h.st.visit;
  const a = h.st.attempts.get(dispatchId);
  if (!v || !a || isFinished(h.st) || h.st.verdicts.has(dispatchId) || a.task.status !== "dispatched") return;
  if (a.task.state !== v.state || a.task.visit !== v.visit) return;
  const vt = v.tasks.get(a.task.task);
  if (!vt) return;
  const id = vt.instance ? `${vt.layout.plan.id}[${vt.instance.index}]` : vt.layout.plan.id;
  lose(h, v, vt, a.attempt, dispatchId, serializeError(new PhaseflowError("ATTEMPT_LOST", `task "${id}" attempt ${a.attempt}: ${reason}; it is dispatched again`)));
}

/** Re-arm the timers of every attempt and retry of the visit under way (resume). */
export function rearm(h: TimerHost): void {
  const v = h.st.visit;
  if (!v) return;
  for (const a of h.st.attempts.values()) {
    if (h.st.verdicts.has(a.dispatchId)) continue;
    const vt = v.state === a.task.state && v.visit === a.task.visit ? v.tasks.get(a.task.task) : undefined;
    armAttempt(h.effects, a.dispatchId, timersAtResume(a, vt?.layout.plan.timeoutMs ?? null, h.now, h.settings));
  }
  for (const vt of v.tasks.values()) {
    if (vt.status === "retrying") h.effects.push({ type: "timer", key: retryKey(v.state, v.visit, h.ref(v, vt).task), at: vt.record?.dueAt ?? h.now });
  }
  rearmWaits(h);
}
