/**
 * What the web view shows of one run: the run record (folded by the same
 * `createRecordFold` every reader uses, so the page and `phaseflow status` agree) plus
 * every attempt of every task. The record keeps only a task's last attempt; the task
 * panel lists all of them, so this module folds the attempts alongside, from the same
 * events and live signals, and remembers which tasks changed since the last push so
 * the event stream sends only those.
 */
import type { SerializedError } from "../errors/serialize.js";
import type { RunRecord, TaskRecord } from "../runtime/core/run-record-schema.js";
import { createRecordFold } from "../runtime/core/run-record.js";
import type { RunUpdate } from "../transport/messages.js";

export type AttemptStatus = "dispatched" | "running" | "succeeded" | "failed" | "cancelled";

/** One attempt of one task, as the task panel lists it. */
export interface AttemptView {
  attempt: number;
  dispatchId: string;
  /** Which go of the run: 0 for the first, +1 per retry of the run. */
  round: number;
  executor: string;
  status: AttemptStatus;
  dispatchedAt: number;
  startedAt?: number;
  finishedAt?: number;
  workerId?: string;
  /** The worker's own measure of the attempt's run time. */
  durationMs?: number;
  error?: SerializedError;
  output?: unknown;
  progress?: { done: number; total?: number };
}

/** `state/visit/task`: one task of one state visit. */
export function taskKey(t: { state: string; visit: number; task: string }): string {
  return `${t.state}/${t.visit}/${t.task}`;
}

/** A push to the page: the run without its tasks, and the tasks (with their attempts) that changed. */
export interface RunViewPatch {
  run: Omit<RunRecord, "tasks">;
  /** Tasks whose record or attempts changed, keyed by `taskKey`. */
  tasks: Record<string, { record: TaskRecord; attempts: AttemptView[] }>;
  /** Whether this patch holds every task (the first push, or after a change to many). */
  full: boolean;
}

export interface RunViewFold {
  apply(update: RunUpdate): void;
  /** The record as folded so far. */
  readonly record: RunRecord;
  attemptsOf(key: string): readonly AttemptView[];
  /** What changed since the last call (everything on the first call). */
  takePatch(): RunViewPatch | undefined;
}

const FINISHED = new Set<AttemptStatus>(["succeeded", "failed", "cancelled"]);

/**
 * Fold a run's events and live signals into what the page shows.
 * @example
 * const view = createRunViewFold(runId);
 * for await (const u of client.followLive(runId)) { view.apply(u); send(view.takePatch()); }
 */
export function createRunViewFold(runId: string): RunViewFold {
  const fold = createRecordFold(runId);
  const attempts = new Map<string, AttemptView[]>();
  /** Attempts of the current go of the run by dispatch id (ids repeat across gos). */
  let byDispatch = new Map<string, AttemptView>();
  let round = 0;
  let dirty = new Set<string>();
  let all = true;
  let changed = true;

  const touch = (key: string): void => {
    dirty.add(key);
    changed = true;
  };
  const open = (key: string): AttemptView | undefined => {
    const list = attempts.get(key);
    const last = list?.[list.length - 1];
    return last && !FINISHED.has(last.status) ? last : undefined;
  };
  const settle = (a: AttemptView, status: AttemptStatus, at: number, error?: SerializedError): void => {
    a.status = status;
    a.finishedAt ??= at;
    if (error !== undefined) a.error ??= error;
  };

  function applyAttempts(u: RunUpdate): void {
    switch (u.type) {
      case "run.retried":
        round++;
        byDispatch = new Map();
        all = true;
        return;
      case "run.cancelled":
      case "run.failed":
        all = true;
        return;
      case "task.dispatched": {
        const key = taskKey(u);
        const a: AttemptView = { attempt: u.attempt, dispatchId: u.dispatchId, round, executor: u.executor, status: "dispatched", dispatchedAt: u.at };
        const list = attempts.get(key) ?? [];
        // A re-dispatch of the same attempt (the watchdog's) replaces the lost one.
        const prev = list[list.length - 1];
        if (prev && prev.dispatchId === u.dispatchId && prev.round === round && !FINISHED.has(prev.status)) list[list.length - 1] = a;
        else list.push(a);
        attempts.set(key, list);
        byDispatch.set(u.dispatchId, a);
        touch(key);
        return;
      }
      case "attempt.started":
      case "attempt.heartbeat":
      case "attempt.progress": {
        const a = byDispatch.get(u.dispatchId);
        if (!a || FINISHED.has(a.status)) return;
        a.status = "running";
        a.startedAt ??= u.at;
        a.workerId = u.workerId;
        if (u.type === "attempt.progress") a.progress = u.total === undefined ? { done: u.done } : { done: u.done, total: u.total };
        touch(taskKey(u));
        return;
      }
      case "attempt.succeeded":
      case "attempt.failed": {
        const a = byDispatch.get(u.dispatchId);
        if (!a || FINISHED.has(a.status)) return;
        a.workerId = u.workerId;
        a.durationMs = u.durationMs;
        if (u.type === "attempt.succeeded") {
          if (u.output !== undefined) a.output = u.output;
          settle(a, "succeeded", u.at);
        } else {
          settle(a, "failed", u.at, u.error);
        }
        touch(taskKey(u));
        return;
      }
      case "task.succeeded": {
        // The task's output schema parsed the output: show what the run keeps.
        const a = byDispatch.get(u.dispatchId);
        if (a) {
          if (u.output !== undefined) a.output = u.output;
          settle(a, "succeeded", u.at);
        }
        touch(taskKey(u));
        return;
      }
      case "task.retrying":
      case "task.failed": {
        // A timeout or a lost attempt fails without a report: the error is the coordinator's.
        const a = open(taskKey(u));
        if (a) settle(a, "failed", u.at, u.error);
        touch(taskKey(u));
        return;
      }
      case "task.cancelled": {
        const a = open(taskKey(u));
        if (a) settle(a, "cancelled", u.at);
        touch(taskKey(u));
        return;
      }
      case "task.skipped":
      case "task.waiting":
      case "task.waited":
        // Signal and sleep nodes have no attempts: their record says what they wait for.
        touch(taskKey(u));
        return;
      default:
        changed = true;
    }
  }

  return {
    apply(update) {
      fold.apply(update);
      applyAttempts(update);
    },
    get record() {
      return fold.state.record;
    },
    attemptsOf: (key) => attempts.get(key) ?? [],
    takePatch() {
      if (!changed) return undefined;
      const { tasks, ...run } = fold.state.record;
      const out: RunViewPatch["tasks"] = {};
      for (const t of tasks) {
        const key = taskKey(t);
        if (all || dirty.has(key)) out[key] = { record: { ...t }, attempts: (attempts.get(key) ?? []).map((a) => ({ ...a })) };
      }
      const patch: RunViewPatch = { run: { ...run, states: run.states.map((s) => ({ ...s })) }, tasks: out, full: all };
      dirty = new Set();
      all = false;
      changed = false;
      return patch;
    },
  };
}
