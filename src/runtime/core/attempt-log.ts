/**
 * Every attempt of every task of a run, folded from its events (and, for a live view, its
 * live signals). The run record keeps only a task's last attempt; the web view's task
 * panel (ui/run-view.ts) and the archive's attempts table (archive/archive.ts) list them
 * all, and both read them from this one fold, so they agree with each other and with the
 * record on which report counted.
 *
 * A report counts as the record's fold counts it (fold/attempts.ts): for an attempt still
 * open, with the token it was dispatched with (its hash is in task.dispatched); the first
 * such report settles the attempt. Every report for the attempt is counted in `reports`.
 * A coordinator's verdict without a report (task.retrying / task.failed after a timeout or
 * a lost attempt, task.cancelled) settles the task's open attempt; task.succeeded (an
 * output schema judged it) shows the output the run keeps. Attempt ids repeat across
 * goes of a run (run.retried), so each entry carries its `round`.
 */
import type { SerializedError } from "../../errors/serialize.js";
import type { RunUpdate } from "../../transport/messages.js";
import { taskKey, tokenHashOf } from "./run-state.js";

export type AttemptStatus = "dispatched" | "running" | "succeeded" | "failed" | "cancelled";

/** One dispatched attempt of a task and what came of it. */
export interface AttemptEntry {
  readonly dispatchId: string;
  /** Which go of the run: 0 for the first, +1 per retry of the run. */
  readonly round: number;
  readonly state: string;
  readonly visit: number;
  readonly task: string;
  readonly attempt: number;
  readonly executor: string;
  readonly dispatchedAt: number;
  readonly deadline: number | null;
  readonly tokenHash: string;
  status: AttemptStatus;
  startedAt?: number;
  finishedAt?: number;
  workerId?: string;
  /** The worker's own measure of the attempt's run time. */
  durationMs?: number;
  error?: SerializedError;
  output?: unknown;
  progress?: { done: number; total?: number };
  /** The report that counted (the first with the attempt's token while it was open), if any. */
  report?: AcceptedReport;
  /** Reports stored for this attempt, counted or not (redeliveries and resends store more than one). */
  reports: number;
}

export interface AcceptedReport {
  readonly outcome: "succeeded" | "failed";
  readonly at: number;
  readonly workerId: string;
  readonly durationMs: number;
  readonly output?: unknown;
  readonly error?: SerializedError;
}

export interface AttemptLog {
  /** Fold one event or live signal; returns the attempt it changed, if it changed one. */
  apply(update: RunUpdate): AttemptEntry | undefined;
  /** The attempts of one task of one state visit, in dispatch order. */
  attemptsOf(t: { state: string; visit: number; task: string }): readonly AttemptEntry[];
  /** Every attempt of the run, in dispatch order. */
  all(): readonly AttemptEntry[];
}

const FINISHED: ReadonlySet<AttemptStatus> = new Set(["succeeded", "failed", "cancelled"]);

/**
 * A fold of every attempt of a run.
 * @example
 * const log = createAttemptLog();
 * for (const e of historyEvents(messages)) log.apply(e);
 * log.attemptsOf({ state: "ingest", visit: 1, task: "load" });
 */
export function createAttemptLog(): AttemptLog {
  const byTask = new Map<string, AttemptEntry[]>();
  const order: AttemptEntry[] = [];
  /** Attempts of the current go of the run by dispatch id (ids repeat across goes). */
  let byDispatch = new Map<string, AttemptEntry>();
  let round = 0;

  const open = (t: { state: string; visit: number; task: string }): AttemptEntry | undefined => {
    const list = byTask.get(taskKey(t.state, t.visit, t.task));
    const last = list?.[list.length - 1];
    return last && !FINISHED.has(last.status) ? last : undefined;
  };
  const settle = (a: AttemptEntry, status: AttemptStatus, at: number, error?: SerializedError): AttemptEntry => {
    a.status = status;
    a.finishedAt ??= at;
    if (error !== undefined) a.error ??= error;
    return a;
  };

  function apply(u: RunUpdate): AttemptEntry | undefined {
    switch (u.type) {
      case "run.retried":
        round++;
        byDispatch = new Map();
        return undefined;
      case "task.dispatched": {
        const key = taskKey(u.state, u.visit, u.task);
        const a: AttemptEntry = { dispatchId: u.dispatchId, round, state: u.state, visit: u.visit, task: u.task, attempt: u.attempt, executor: u.executor, dispatchedAt: u.at, deadline: u.deadline, tokenHash: u.tokenHash, status: "dispatched", reports: 0 };
        const list = byTask.get(key) ?? [];
        // A re-dispatch of the same attempt (the watchdog's) replaces the lost one.
        const prev = list[list.length - 1];
        if (prev && prev.dispatchId === u.dispatchId && prev.round === round && !FINISHED.has(prev.status)) {
          list[list.length - 1] = a;
          order[order.indexOf(prev)] = a;
        } else {
          list.push(a);
          order.push(a);
        }
        byTask.set(key, list);
        byDispatch.set(u.dispatchId, a);
        return a;
      }
      case "attempt.started":
      case "attempt.heartbeat":
      case "attempt.progress": {
        const a = byDispatch.get(u.dispatchId);
        if (!a || FINISHED.has(a.status)) return undefined;
        a.status = "running";
        a.startedAt ??= u.at;
        a.workerId = u.workerId;
        if (u.type === "attempt.progress") a.progress = u.total === undefined ? { done: u.done } : { done: u.done, total: u.total };
        return a;
      }
      case "attempt.succeeded":
      case "attempt.failed": {
        const a = byDispatch.get(u.dispatchId);
        if (!a) return undefined;
        a.reports++;
        if (FINISHED.has(a.status) || tokenHashOf(u.token) !== a.tokenHash) return undefined;
        a.workerId = u.workerId;
        a.durationMs = u.durationMs;
        if (u.type === "attempt.succeeded") {
          a.report = { outcome: "succeeded", at: u.at, workerId: u.workerId, durationMs: u.durationMs, output: u.output };
          if (u.output !== undefined) a.output = u.output;
          return settle(a, "succeeded", u.at);
        }
        a.report = { outcome: "failed", at: u.at, workerId: u.workerId, durationMs: u.durationMs, error: u.error };
        return settle(a, "failed", u.at, u.error);
      }
      case "task.succeeded": {
        // The task's output schema parsed the output: show what the run keeps.
        const a = byDispatch.get(u.dispatchId);
        if (!a) return undefined;
        if (u.output !== undefined) a.output = u.output;
        return settle(a, "succeeded", u.at);
      }
      case "task.retrying":
      case "task.failed": {
        // A timeout or a lost attempt fails without a report: the error is the coordinator's.
        const a = open(u);
        return a && settle(a, "failed", u.at, u.error);
      }
      case "task.cancelled": {
        const a = open(u);
        return a && settle(a, "cancelled", u.at);
      }
      default:
        return undefined;
    }
  }

  return { apply, attemptsOf: (t) => byTask.get(taskKey(t.state, t.visit, t.task)) ?? [], all: () => order };
}
