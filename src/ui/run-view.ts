/**
 * What the web view shows of one run: the run record (folded by the same
 * `createRecordFold` every reader uses, so the page and `phaseflow status` agree) plus
 * every attempt of every task. The record keeps only a task's last attempt; the task
 * panel lists all of them from the one attempts fold (runtime/core/attempt-log.ts, which
 * the archive reads too), fed the same events and live signals, and this module
 * remembers which tasks changed since the last push so the event stream sends only those.
 */
import { createAttemptLog, type AttemptEntry } from "../runtime/core/attempt-log.js";
import type { RunRecord, TaskRecord } from "../runtime/core/run-record-schema.js";
import { createRecordFold } from "../runtime/core/run-record.js";
import type { RunUpdate } from "../transport/messages.js";

export type { AttemptStatus } from "../runtime/core/attempt-log.js";

/** One attempt of one task, as the task panel lists it: the attempt log's entry (runtime/core/attempt-log.ts) without its bookkeeping. */
export type AttemptView = Omit<AttemptEntry, "state" | "visit" | "task" | "deadline" | "tokenHash" | "report" | "reports">;

/** What the page shows of an attempt. */
export function attemptViewOf(a: AttemptEntry): AttemptView {
  const { state: _s, visit: _v, task: _t, deadline: _d, tokenHash: _h, report: _r, reports: _n, ...view } = a;
  return view.progress ? { ...view, progress: { ...view.progress } } : view;
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

/**
 * Fold a run's events and live signals into what the page shows.
 * @example
 * const view = createRunViewFold(runId);
 * for await (const u of client.followLive(runId)) { view.apply(u); send(view.takePatch()); }
 */
export function createRunViewFold(runId: string): RunViewFold {
  const fold = createRecordFold(runId);
  const attempts = createAttemptLog();
  let dirty = new Set<string>();
  let all = true;
  let changed = true;

  const touch = (key: string): void => {
    dirty.add(key);
    changed = true;
  };

  function applyAttempts(u: RunUpdate): void {
    const changedAttempt = attempts.apply(u);
    switch (u.type) {
      case "run.retried":
      case "run.cancelled":
      case "run.failed":
        all = true;
        return;
      case "attempt.started":
      case "attempt.heartbeat":
      case "attempt.progress":
      case "attempt.succeeded":
      case "attempt.failed":
        // Only a signal or report that counted changes what the page shows.
        if (changedAttempt) touch(taskKey(u));
        return;
      case "task.dispatched":
      case "task.succeeded":
      case "task.retrying":
      case "task.failed":
      case "task.cancelled":
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
    attemptsOf: (key) => {
      const [state = "", visit = "", ...task] = key.split("/");
      return attempts.attemptsOf({ state, visit: Number(visit), task: task.join("/") }).map(attemptViewOf);
    },
    takePatch() {
      if (!changed) return undefined;
      const { tasks, ...run } = fold.state.record;
      const out: RunViewPatch["tasks"] = {};
      for (const t of tasks) {
        const key = taskKey(t);
        if (all || dirty.has(key)) out[key] = { record: { ...t }, attempts: attempts.attemptsOf(t).map(attemptViewOf) };
      }
      const patch: RunViewPatch = { run: { ...run, states: run.states.map((s) => ({ ...s })) }, tasks: out, full: all };
      dirty = new Set();
      all = false;
      changed = false;
      return patch;
    },
  };
}
