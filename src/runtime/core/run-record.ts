/**
 * The run record, for readers: a projection of the one fold (run-state.ts). A reader
 * without the workflow module (the CLI, a status query) folds a history with no model
 * and gets the same record the coordinator holds.
 */
import type { RunEvent, RunUpdate, StoredMessage } from "../../transport/messages.js";
import { historyEvents } from "./history.js";
import type { CompactInstances } from "./map-instances.js";
import type { RunRecord, RunSummary, TaskRecord, TaskStatus } from "./run-record-schema.js";
import { createRunState, evolve, foldEvents, isFinished, type RunState } from "./run-state.js";

export type { RunSummary };

/**
 * Fold a run's events (in history order) into its record.
 * @example
 * const record = reduceRunEvents(historyEvents((await transport.readHistory(runId)).messages));
 */
export function reduceRunEvents(events: readonly RunEvent[]): RunRecord {
  const first = events[0];
  return foldEvents(createRunState(first ? first.runId : ""), events).record;
}

/**
 * Fold a run's stored history into its record.
 * @example const record = recordOfHistory((await transport.readHistory(runId)).messages);
 */
export function recordOfHistory(messages: readonly StoredMessage[]): RunRecord {
  return reduceRunEvents(historyEvents(messages));
}

/** A reader's fold: a run state with no model, advanced one event (or live signal, shown on the record; not history) at a time, by `evolve`. */
export function createRecordFold(runId: string): { readonly state: RunState; apply(update: RunUpdate): RunRecord } {
  const state = createRunState(runId);
  return {
    state,
    apply(update) {
      evolve(state, update);
      return state.record;
    },
  };
}

/** What a coordinator keeps of a run's record: the record and, from a compact fold, its map instances' columns. */
export interface HeldRecord {
  readonly record: RunRecord;
  readonly compact: CompactInstances | undefined;
}

const same = (t: TaskRecord): TaskRecord => t;

/**
 * The full run record of a state (or of what a coordinator kept of one), every map
 * instance included: a compact fold's instances are built from their columns (new
 * objects each call), in the order a plain fold lists them. `snapshot`: a copy later
 * events will not change (see snapshotRunRecord); without it a plain fold's record is
 * returned as it is.
 * @example const record = runRecordOf(coordinator.runState(runId)!, { snapshot: true });
 */
export function runRecordOf(held: HeldRecord, options: { snapshot?: boolean } = {}): RunRecord {
  const { record, compact } = held;
  if (!compact) return options.snapshot === true ? snapshotRunRecord(record) : record;
  if (options.snapshot === true) return snapshotRunRecord(record, compact.tasks(record.tasks, snapshotTask));
  return { ...record, tasks: compact.tasks(record.tasks, same) };
}

/**
 * The summary of a state's record (or of what a coordinator kept of one), counting a
 * compact fold's map instances in their columns: O(tasks) with no record built.
 * @example const { status, tasks } = summaryOf(state);
 */
export function summaryOf(held: HeldRecord): RunSummary {
  const { record, compact } = held;
  const counts: Record<TaskStatus, number> = { pending: 0, dispatched: 0, running: 0, succeeded: 0, failed: 0, retrying: 0, skipped: 0, cancelled: 0 };
  for (const t of record.tasks) counts[t.status]++;
  compact?.countStatuses(counts);
  let total = 0;
  for (const n of Object.values(counts)) total += n;
  return {
    runId: record.runId,
    workflow: record.workflow,
    version: record.version,
    planHash: record.planHash,
    status: record.status,
    ...(record.currentState !== undefined ? { currentState: record.currentState } : {}),
    ...(record.startedAt !== undefined ? { startedAt: record.startedAt } : {}),
    ...(record.finishedAt !== undefined ? { finishedAt: record.finishedAt } : {}),
    ...(record.error !== undefined ? { error: record.error } : {}),
    ...(record.parent !== undefined ? { parent: record.parent.runId } : {}),
    tasks: { total, succeeded: counts.succeeded, failed: counts.failed, running: counts.running + counts.dispatched },
  };
}

/**
 * Only the summary fields of something that holds them (a fleet's stored run, which
 * holds a lease and more besides), none absent-but-undefined, and `error` only when asked
 * for (a run list leaves it out to keep its replies small).
 * @example const entry = summaryFieldsOf(storedRun, { error: false });
 */
export function summaryFieldsOf(r: RunSummary, options: { error?: boolean } = {}): RunSummary {
  return {
    runId: r.runId,
    workflow: r.workflow,
    version: r.version,
    planHash: r.planHash,
    status: r.status,
    ...(r.currentState !== undefined ? { currentState: r.currentState } : {}),
    ...(r.startedAt !== undefined ? { startedAt: r.startedAt } : {}),
    ...(r.finishedAt !== undefined ? { finishedAt: r.finishedAt } : {}),
    ...(r.error !== undefined && options.error !== false ? { error: r.error } : {}),
    ...(r.parent !== undefined ? { parent: r.parent } : {}),
    ...(r.waiting !== undefined ? { waiting: r.waiting } : {}),
    tasks: { total: r.tasks.total, succeeded: r.tasks.succeeded, failed: r.tasks.failed, running: r.tasks.running },
  };
}

/** Whether the record's run has ended (succeeded, failed or cancelled). */
export function isRunFinished(record: Pick<RunRecord, "status">): boolean {
  return isFinished({ record: record as RunRecord });
}

/**
 * A copy of task record `t` that later events will not change: the fold changes its
 * fields, a live signal its `progress` and an instance its map node's `instances` counts
 * in place.
 */
export function snapshotTask(t: TaskRecord): TaskRecord {
  return { ...t, ...(t.progress ? { progress: { ...t.progress } } : {}), ...(t.instances ? { instances: { ...t.instances } } : {}) };
}

/**
 * A copy of `record` that later events will not change (states, tasks and signals copied
 * one level deep, see snapshotTask; inputs and outputs are shared, treat them as
 * read-only). `tasks`: the task records, copied already (a compact fold builds them).
 */
export function snapshotRunRecord(record: RunRecord, tasks: TaskRecord[] = record.tasks.map(snapshotTask)): RunRecord {
  return {
    ...record,
    states: record.states.map((s) => ({ ...s })),
    tasks,
    // A later signal is pushed onto the list, and marks the one a wait consumed.
    ...(record.signals ? { signals: record.signals.map((s) => ({ ...s })) } : {}),
  };
}
