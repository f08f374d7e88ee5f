/**
 * The fold of a task's own decisions: dispatched, retrying, succeeded, failed, skipped,
 * cancelled. Each writes the task's record (made on its first event), drops the attempt
 * it ends, and keeps the decider's view of the visit (visit.ts) in step.
 */
import type { RunEventOf } from "../../../transport/messages.js";
import type { TaskRecord } from "../run-record-schema.js";
import { taskKey, type RunState } from "./state.js";
import { leavePending, markVisitTask, settle, visitTask } from "./visit.js";

/** The events folded here. */
export type TaskEvent = RunEventOf<"task.dispatched" | "task.retrying" | "task.succeeded" | "task.failed" | "task.skipped" | "task.cancelled">;

/** The task's record, made (and linked to the visit's view) on its first event. */
export function taskOf(st: RunState, e: { state: string; visit: number; task: string }): TaskRecord {
  const key = taskKey(e.state, e.visit, e.task);
  let t = st.tasks.get(key);
  if (!t) {
    t = { id: `${e.state}/${e.task}`, state: e.state, visit: e.visit, task: e.task, status: "pending", attempts: 0 };
    st.tasks.set(key, t);
    st.record.tasks.push(t);
    st.compact?.plainOrder.push(st.compact.made++);
    const vt = visitTask(st, e);
    if (vt) vt.record = t;
  }
  return t;
}

/** The task's current attempt is over: no report of it counts any more. */
export function dropAttempt(st: RunState, t: TaskRecord): void {
  if (t.dispatchId === undefined) return;
  st.attempts.delete(t.dispatchId);
  st.verdicts.delete(t.dispatchId);
}

const CLEARED_ON_RERUN = ["dispatchId", "workerId", "startedAt", "finishedAt", "durationMs", "dueAt", "output", "error", "progress", "redeliveries", "reason", "wait"] as const;

/** A task that runs again (a re-run, a map expanded again): pending, with nothing of its earlier attempts but their count. */
export function resetForRerun(t: TaskRecord): void {
  t.status = "pending";
  for (const field of CLEARED_ON_RERUN) delete t[field];
}

export function foldTaskEvent(st: RunState, e: TaskEvent): void {
  switch (e.type) {
    case "task.dispatched": {
      const t = taskOf(st, e);
      dropAttempt(st, t);
      t.executor = e.executor;
      t.status = "dispatched";
      t.attempts = Math.max(t.attempts, e.attempt);
      t.dispatchId = e.dispatchId;
      delete t.dueAt;
      delete t.redeliveries;
      st.attempts.set(e.dispatchId, { task: t, dispatchId: e.dispatchId, attempt: e.attempt, tokenHash: e.tokenHash, judged: e.judged, deadline: e.deadline, dispatchedAt: e.at, startBy: e.startBy, ...(e.limits !== undefined ? { limits: e.limits } : {}) });
      markVisitTask(st, e, "dispatched");
      break;
    }
    case "task.retrying": {
      const t = taskOf(st, e);
      dropAttempt(st, t);
      t.status = "retrying";
      t.dueAt = e.dueAt;
      t.error = e.error;
      delete t.wait;
      const vt = visitTask(st, e);
      if (vt) {
        leavePending(st.visit!, vt);
        vt.status = "retrying";
        if (e.error.code === "ATTEMPT_LOST") vt.lost++;
      }
      break;
    }
    case "task.succeeded": {
      const t = taskOf(st, e);
      dropAttempt(st, t);
      t.status = "succeeded";
      t.output = e.output;
      t.finishedAt = e.at;
      t.attempts = Math.max(t.attempts, e.attempt);
      delete t.error;
      delete t.dueAt;
      settle(st, e, "succeeded", e.output);
      break;
    }
    case "task.failed": {
      const t = taskOf(st, e);
      dropAttempt(st, t);
      t.status = "failed";
      t.error = e.error;
      t.finishedAt = e.at;
      t.attempts = Math.max(t.attempts, e.attempt);
      delete t.dueAt;
      delete t.wait;
      settle(st, e, "failed");
      break;
    }
    case "task.skipped":
    case "task.cancelled": {
      const t = taskOf(st, e);
      dropAttempt(st, t);
      const status = e.type === "task.skipped" ? "skipped" : "cancelled";
      t.status = status;
      t.reason = e.reason;
      t.finishedAt = e.at;
      delete t.dueAt;
      delete t.wait;
      settle(st, e, status);
      break;
    }
  }
}
