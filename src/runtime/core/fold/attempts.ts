/**
 * The fold of what is heard of an attempt: its reports (attempt.succeeded / failed),
 * the deciding coordinator's own notes of it (its token, when it started), and live
 * signals shown on the record. A report counts only for the task's current, unsettled
 * attempt, with the token that attempt was dispatched with; anything else is counted in
 * `refused` and changes nothing. A success of a task without an output schema is the
 * verdict itself; a failure, or a success an output schema must judge, waits in
 * `verdicts` for the decider's task.retrying / task.failed / task.succeeded.
 */
import type { LiveSignal, RunEventOf } from "../../../transport/messages.js";
import { tokenHashOf, type AttemptInfo, type DeciderNote, type RunState } from "./state.js";
import { settle } from "./visit.js";

/** The events folded here. */
export type AttemptEvent = RunEventOf<"attempt.succeeded" | "attempt.failed"> | DeciderNote;

export function foldAttemptEvent(st: RunState, e: AttemptEvent): void {
  switch (e.type) {
    case "attempt.token": {
      const a = st.attempts.get(e.dispatchId);
      if (a) a.token = e.token;
      break;
    }
    case "attempt.start": {
      const a = st.attempts.get(e.dispatchId);
      if (a) a.startedAt = e.startedAt;
      break;
    }
    case "attempt.succeeded":
    case "attempt.failed": {
      if (e.seq > st.through) st.through = e.seq;
      const a = currentAttempt(st, e);
      if (!a) {
        st.refused++;
        break;
      }
      const t = a.task;
      t.workerId = e.workerId;
      t.durationMs = e.durationMs;
      if (e.startedAt !== undefined) t.startedAt ??= e.startedAt;
      if (e.type === "attempt.failed") {
        st.verdicts.set(a.dispatchId, { kind: "failed", attempt: a, error: e.error });
      } else if (a.judged) {
        st.verdicts.set(a.dispatchId, { kind: "succeeded", attempt: a, output: e.output });
      } else {
        st.attempts.delete(a.dispatchId);
        t.status = "succeeded";
        t.output = e.output;
        t.finishedAt = e.at;
        delete t.error;
        settle(st, t, "succeeded", e.output);
      }
      break;
    }
  }
}

/** A report for the current attempt with the right token, or undefined (refused). */
function currentAttempt(st: RunState, e: RunEventOf<"attempt.succeeded" | "attempt.failed">): AttemptInfo | undefined {
  const a = st.attempts.get(e.dispatchId);
  if (!a || st.verdicts.has(e.dispatchId)) return undefined;
  const t = a.task;
  if (t.state !== e.state || t.visit !== e.visit || t.task !== e.task || a.attempt !== e.attempt) return undefined;
  if (t.status !== "dispatched" && t.status !== "running") return undefined;
  const ok = a.token !== undefined ? e.token === a.token : tokenHashOf(e.token) === a.tokenHash;
  return ok ? a : undefined;
}

/**
 * Whether `evolve` shows `signal` on `st`: it is for a current attempt (one dispatched
 * and not yet judged). A read only; a signal for no current attempt changes nothing.
 */
export function liveSignalApplies(st: RunState, signal: LiveSignal): boolean {
  return st.attempts.has(signal.dispatchId) && !st.verdicts.has(signal.dispatchId);
}

/**
 * The fold step of a live signal (an attempt started, its progress, a heartbeat): shown
 * on the record. Not history: it changes nothing the decider reads, and a fold of the
 * stored history does not have it. Called by `evolve` only (run-state.ts).
 */
export function foldLiveSignal(st: RunState, signal: LiveSignal): void {
  if (!liveSignalApplies(st, signal)) return;
  const t = st.attempts.get(signal.dispatchId)!.task;
  if (signal.type === "attempt.started") {
    // Redeliveries are what the worker's delivery count says: the same signal seen twice (two
    // subscriptions, a replay after a cancel) is not a second delivery.
    if (signal.delivery !== undefined) {
      if (signal.delivery > 1) t.redeliveries = Math.max(t.redeliveries ?? 0, signal.delivery - 1);
    } else if (t.status === "running" && t.workerId !== undefined && t.workerId !== signal.workerId) {
      // A worker that does not send its delivery count: a start on another worker is a redelivery.
      t.redeliveries = (t.redeliveries ?? 0) + 1;
    }
  }
  if (t.status === "dispatched") t.status = "running";
  t.workerId = signal.workerId;
  t.startedAt ??= signal.startedAt ?? signal.at;
  if (signal.type === "attempt.progress") t.progress = signal.total === undefined ? { done: signal.done } : { done: signal.done, total: signal.total };
}
