/**
 * Run history -> run record. The record is a pure function of the run's events
 * (DESIGN "Run history"), so the NATS side stores exactly the events and any
 * process rebuilds the same record from them.
 *
 * Rules:
 * - Coordinator events (run.*, state.*, task.*) are the verdicts.
 * - Worker reports (attempt.*) only add detail (worker, progress, duration) and only
 *   while they belong to the task's current attempt and that attempt is unsettled
 *   (task status dispatched/running, same dispatchId). A report that arrives after the
 *   coordinator settled its attempt (timeout, retry scheduled, task decided, run ended)
 *   changes nothing. A second attempt.started of the current attempt counts a redelivery.
 * - When the run ends, a state still running takes the run's end status.
 * - `run.retried` (a partial re-run of a failed run) makes the run, the chosen state
 *   visit and the re-run tasks live again: tasks go back to `pending` keeping their
 *   attempt count, the run's error and end time are cleared.
 *
 * `applyRunEvent` updates a record in place in O(1) (an index of tasks and states is
 * kept on the side, rebuilt lazily for records that came from JSON), so folding a
 * history of n events is O(n). `reduceRunEvents` folds into a fresh record.
 */
import type { RunEvent } from "../transport/messages.js";
import type { RunRecord, StateRecord, TaskRecord } from "./run-record-schema.js";

interface RecordIndex {
  tasks: Map<string, TaskRecord>;
  states: Map<string, StateRecord>;
}

const indexes = new WeakMap<RunRecord, RecordIndex>();

const taskKey = (state: string, visit: number, task: string): string => `${state}\u0000${visit}\u0000${task}`;
const stateKey = (state: string, visit: number): string => `${state}\u0000${visit}`;

function indexOf(record: RunRecord): RecordIndex {
  let idx = indexes.get(record);
  if (!idx) {
    idx = { tasks: new Map(), states: new Map() };
    for (const t of record.tasks) idx.tasks.set(taskKey(t.state, t.visit, t.task), t);
    for (const s of record.states) idx.states.set(stateKey(s.name, s.visit), s);
    indexes.set(record, idx);
  }
  return idx;
}

/** A record with nothing known yet but its id (status `pending`). */
export function emptyRunRecord(runId: string): RunRecord {
  return { runId, workflow: "", version: "", planHash: "", status: "pending", states: [], tasks: [] };
}

/**
 * Fold a run's whole history into its record.
 * @example
 * const record = reduceRunEvents(await transport.readRunEvents(runId));
 * console.log(record.status, record.tasks.length);
 */
export function reduceRunEvents(events: readonly RunEvent[]): RunRecord {
  const first = events[0];
  const record = emptyRunRecord(first ? first.runId : "");
  for (const e of events) applyRunEvent(record, e);
  return record;
}

function taskOf(record: RunRecord, e: { state: string; visit: number; task: string }): TaskRecord {
  const idx = indexOf(record);
  const key = taskKey(e.state, e.visit, e.task);
  let t = idx.tasks.get(key);
  if (!t) {
    t = { id: `${e.state}/${e.task}`, state: e.state, visit: e.visit, task: e.task, status: "pending", attempts: 0 };
    idx.tasks.set(key, t);
    record.tasks.push(t);
  }
  return t;
}

/** The task's current unsettled attempt, when `e` reports on it; else undefined. */
function liveAttempt(record: RunRecord, e: { state: string; visit: number; task: string; dispatchId: string }): TaskRecord | undefined {
  const t = indexOf(record).tasks.get(taskKey(e.state, e.visit, e.task));
  if (!t || t.dispatchId !== e.dispatchId) return undefined;
  return t.status === "dispatched" || t.status === "running" ? t : undefined;
}

function endRunningStates(record: RunRecord, status: "failed" | "cancelled" | "succeeded", at: number): void {
  // States run one at a time: at most one is running. It is the last entered one,
  // unless a run.retried went back to an earlier visit; look from the end.
  for (let i = record.states.length - 1; i >= 0; i--) {
    const s = record.states[i]!;
    if (s.status !== "running") continue;
    s.status = status;
    s.exitedAt = at;
    return;
  }
}

/** run.retried: the run, the state visit and the tasks re-run are live again; attempt counts go on. */
function reopen(record: RunRecord, e: { state: string; visit: number; tasks: readonly string[] }): void {
  record.status = "running";
  delete record.error;
  delete record.output;
  delete record.reason;
  delete record.finishedAt;
  record.currentState = e.state;
  const idx = indexOf(record);
  const s = idx.states.get(stateKey(e.state, e.visit));
  if (s) {
    s.status = "running";
    delete s.exitedAt;
    delete s.output;
    delete s.next;
  }
  for (const name of e.tasks) {
    const t = idx.tasks.get(taskKey(e.state, e.visit, name));
    if (!t) continue;
    t.status = "pending";
    for (const key of ["dispatchId", "workerId", "startedAt", "finishedAt", "durationMs", "dueAt", "output", "error", "progress", "redeliveries", "reason"] as const) delete t[key];
  }
}

/**
 * Apply one event to `record`, in place; returns the same record.
 * @example
 * const record = emptyRunRecord(runId);
 * transport.subscribeEvents((e) => { if (e.runId === runId) applyRunEvent(record, e); });
 */
export function applyRunEvent(record: RunRecord, e: RunEvent): RunRecord {
  if (record.runId === "") record.runId = e.runId;
  switch (e.type) {
    case "run.started":
      record.workflow = e.workflow;
      record.version = e.version;
      record.planHash = e.planHash;
      record.options = { schedule: e.options.schedule, onFailure: e.options.onFailure };
      record.input = e.input;
      record.startedAt = e.at;
      record.status = "running";
      break;
    case "run.succeeded":
      record.status = "succeeded";
      record.output = e.output;
      record.finishedAt = e.at;
      endRunningStates(record, "succeeded", e.at);
      break;
    case "run.failed":
      record.status = "failed";
      record.error = e.error;
      record.finishedAt = e.at;
      endRunningStates(record, "failed", e.at);
      break;
    case "run.cancelled":
      record.status = "cancelled";
      record.reason = e.reason;
      record.finishedAt = e.at;
      endRunningStates(record, "cancelled", e.at);
      break;
    case "run.retried":
      reopen(record, e);
      break;
    case "state.entered": {
      const s: StateRecord = { name: e.state, visit: e.visit, status: "running", enteredAt: e.at, input: e.input };
      indexOf(record).states.set(stateKey(e.state, e.visit), s);
      record.states.push(s);
      record.currentState = e.state;
      break;
    }
    case "state.exited": {
      const s = indexOf(record).states.get(stateKey(e.state, e.visit));
      if (s) {
        s.status = "succeeded";
        s.exitedAt = e.at;
        s.output = e.output;
        s.next = e.next;
      }
      break;
    }
    case "task.dispatched": {
      const t = taskOf(record, e);
      t.executor = e.executor;
      t.status = "dispatched";
      t.attempts = Math.max(t.attempts, e.attempt);
      t.dispatchId = e.dispatchId;
      delete t.dueAt;
      delete t.redeliveries;
      break;
    }
    case "task.retrying": {
      const t = taskOf(record, e);
      t.status = "retrying";
      t.dueAt = e.dueAt;
      t.error = e.error;
      break;
    }
    case "task.succeeded": {
      const t = taskOf(record, e);
      t.status = "succeeded";
      t.output = e.output;
      t.finishedAt = e.at;
      t.attempts = Math.max(t.attempts, e.attempt);
      delete t.error;
      delete t.dueAt;
      break;
    }
    case "task.failed": {
      const t = taskOf(record, e);
      t.status = "failed";
      t.error = e.error;
      t.finishedAt = e.at;
      t.attempts = Math.max(t.attempts, e.attempt);
      delete t.dueAt;
      break;
    }
    case "task.skipped":
    case "task.cancelled": {
      const t = taskOf(record, e);
      t.status = e.type === "task.skipped" ? "skipped" : "cancelled";
      t.reason = e.reason;
      t.finishedAt = e.at;
      delete t.dueAt;
      break;
    }
    case "attempt.started": {
      const t = liveAttempt(record, e);
      if (!t) break;
      if (t.status === "running") t.redeliveries = (t.redeliveries ?? 0) + 1;
      t.status = "running";
      t.workerId = e.workerId;
      t.startedAt ??= e.at;
      break;
    }
    case "attempt.progress": {
      const t = liveAttempt(record, e);
      if (t) t.progress = e.total === undefined ? { done: e.done } : { done: e.done, total: e.total };
      break;
    }
    case "attempt.succeeded":
    case "attempt.failed": {
      const t = liveAttempt(record, e);
      if (!t) break;
      t.workerId = e.workerId;
      t.durationMs = e.durationMs;
      break;
    }
  }
  return record;
}

/** Whether the record's run has ended (succeeded, failed or cancelled). */
export function isRunFinished(record: Pick<RunRecord, "status">): boolean {
  return record.status === "succeeded" || record.status === "failed" || record.status === "cancelled";
}

/**
 * A copy of `record` that later events will not change (the states and tasks are
 * copied one level deep; inputs and outputs are shared, treat them as read-only).
 */
export function snapshotRunRecord(record: RunRecord): RunRecord {
  return {
    ...record,
    states: record.states.map((s) => ({ ...s })),
    tasks: record.tasks.map((t) => ({ ...t, ...(t.progress ? { progress: { ...t.progress } } : {}) })),
  };
}
