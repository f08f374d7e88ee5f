/**
 * When an attempt is judged as timed out, and by whom (README "Traffic control"). Pure: the
 * decider (decide.ts) calls these with its own time and turns what they return into timer
 * effects and verdicts.
 *
 * - `timeoutMs` is start-to-close. Time spent waiting for a worker (a backlog) or a limit
 *   never counts. The worker enforces it from the executor's start (it fires `ctx.signal`
 *   and reports TASK_TIMEOUT); the coordinator backstops it from the start it learned,
 *   `timeoutGraceMs` later (the worker's abort grace and the report's way back), for a
 *   worker that died or was cut off mid-attempt. So an attempt is never failed as timed
 *   out before `timeoutMs` of execution.
 * - The coordinator learns a start from live signals (worker/attempt.ts): `attempt.started`
 *   (sent 200 ms into an attempt, at once when it has a queue deadline) and every heartbeat
 *   after it, which carry the start. The shell turns a signal into a start by its own clock
 *   (`now - (at - startedAt)`: the time run so far, measured on the worker alone, so clock
 *   skew cannot make the start earlier than it was). A redelivered attempt that starts again
 *   moves the start to the later one.
 * - Starts are not history (they would cost a stored message per task). A coordinator that
 *   takes a run over knows no start: until a heartbeat tells it (every 5 s of a running
 *   attempt), the attempt is watched as one without a timeout is — JetStream redelivers it
 *   when its worker dies, and the watchdog re-dispatches it when nothing is heard of it for
 *   `watchdogMs`. Before a start is known, the watchdog watches every attempt.
 * - `queueTimeoutMs` bounds dispatch-to-start: the task message carries `startBy`; a worker
 *   that takes it later fails it unrun with QUEUE_TIMEOUT, and the coordinator fails it at
 *   `startBy` when no start was heard of (a worker announces the start of such an attempt at
 *   once). After a takeover it gives the workers `startNoticeMs` to be heard from first.
 */
import type { LiveSignal } from "../../transport/messages.js";
import type { AttemptInfo, RunState } from "./run-state.js";

export interface AttemptTimerSettings {
  /** Re-dispatch an attempt after this long with nothing heard of it. */
  watchdogMs: number;
  /** The coordinator's backstop fires this long after `timeoutMs` of execution. */
  timeoutGraceMs: number;
  /** After a takeover: how long to wait to hear of an attempt's start before judging its queue deadline. */
  startNoticeMs: number;
}

export type AttemptTimer = { kind: "timeout" | "watchdog" | "queue"; at: number };

/** The timers of an attempt just dispatched at `now`. */
export function timersAtDispatch(a: Pick<AttemptInfo, "startBy">, now: number, s: AttemptTimerSettings): AttemptTimer[] {
  const timers: AttemptTimer[] = [{ kind: "watchdog", at: now + s.watchdogMs }];
  if (a.startBy !== undefined) timers.push({ kind: "queue", at: a.startBy });
  return timers;
}

/** The timers of an attempt a new holder found in flight (resume): it knows no start yet. */
export function timersAtResume(a: Pick<AttemptInfo, "startBy" | "startedAt" | "dispatchedAt">, timeoutMs: number | null, now: number, s: AttemptTimerSettings): AttemptTimer[] {
  if (a.startedAt !== undefined && timeoutMs !== null) return [{ kind: "timeout", at: a.startedAt + timeoutMs + s.timeoutGraceMs }];
  const timers: AttemptTimer[] = [{ kind: "watchdog", at: Math.max(a.dispatchedAt, now) + s.watchdogMs }];
  if (a.startBy !== undefined && a.startedAt === undefined) timers.push({ kind: "queue", at: Math.max(a.startBy, now + s.startNoticeMs) });
  return timers;
}

/**
 * A start heard of for `a` (coordinator's clock). Returns the timers to set instead of the
 * queue deadline (and, with a timeout, instead of the watchdog), or undefined when it
 * changes nothing (an earlier or the same start). It records nothing: the decider folds
 * the start it learned (an `attempt.start` note).
 */
export function learnStart(a: Pick<AttemptInfo, "startedAt">, startedAt: number, timeoutMs: number | null, s: AttemptTimerSettings): { timers: AttemptTimer[]; drop: AttemptTimer["kind"][] } | undefined {
  if (a.startedAt !== undefined && startedAt <= a.startedAt) return undefined;
  const first = a.startedAt === undefined;
  const drop: AttemptTimer["kind"][] = first ? ["queue"] : [];
  if (timeoutMs === null) return { timers: [], drop };
  if (first) drop.push("watchdog");
  return { timers: [{ kind: "timeout", at: startedAt + timeoutMs + s.timeoutGraceMs }], drop };
}

/** Whether the backstop timeout of `a` is due at `now`. */
export function timeoutDue(a: Pick<AttemptInfo, "startedAt">, timeoutMs: number | null, now: number, s: AttemptTimerSettings): boolean {
  return timeoutMs !== null && a.startedAt !== undefined && now >= a.startedAt + timeoutMs + s.timeoutGraceMs;
}

/** Whether `a` waited past its queue deadline without a start heard of. */
export function queueDue(a: Pick<AttemptInfo, "startBy" | "startedAt">, now: number): boolean {
  return a.startBy !== undefined && a.startedAt === undefined && now >= a.startBy;
}

/**
 * The start (coordinator's clock, at `now`) a live signal tells of an attempt whose known
 * start is `known`, or undefined when it tells none to learn: `now` less the time run so
 * far as the worker measured it, so skew cannot make it earlier than the real start. An
 * `attempt.started` always tells one (a redelivered attempt starts again); a heartbeat
 * only while no start is known (after a takeover).
 */
export function startHeardOf(signal: LiveSignal, known: number | undefined, now: number): number | undefined {
  const restart = signal.type === "attempt.started";
  if (known !== undefined && !restart) return undefined;
  const ran = signal.startedAt === undefined ? (restart ? 0 : undefined) : Math.max(0, signal.at - signal.startedAt);
  return ran === undefined ? undefined : now - ran;
}

/** An attempt the task sweep asks about: its task message's `msgID` is `dispatchId@epoch`. */
export type UnstartedAttempt = { dispatchId: string; epoch: number; dispatchedAt: number };

/**
 * Attempts dispatched at or before `before` (epoch ms) that are still out, with nothing
 * `heard` of them since (no start, no report). `heard` also leaves out attempts not sent yet.
 */
export function unstartedAttempts(state: RunState, before: number, heard: (dispatchId: string) => boolean): UnstartedAttempt[] {
  const out: UnstartedAttempt[] = [];
  for (const a of state.attempts.values()) {
    if (a.task.status !== "dispatched" || a.dispatchedAt > before || state.verdicts.has(a.dispatchId) || heard(a.dispatchId)) continue;
    out.push({ dispatchId: a.dispatchId, epoch: state.epoch, dispatchedAt: a.dispatchedAt });
  }
  return out;
}
