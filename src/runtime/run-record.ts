/**
 * The run record, for readers: a projection of the one fold (run-state.ts). A reader
 * without the workflow module (the CLI, a status query) folds a history with no model
 * and gets the same record the coordinator holds.
 */
import { isLiveSignal, type RunEvent, type RunUpdate, type StoredMessage } from "../transport/messages.js";
import { historyEvents } from "./history.js";
import { snapshotRunRecord } from "./run-handle.js";
import type { RunRecord } from "./run-record-schema.js";
import { applyLive, createRunState, evolve, foldEvents, isFinished, type RunState } from "./run-state.js";

export { snapshotRunRecord };

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

/** A reader's fold: a run state with no model, advanced one event (or live signal, shown but not folded) at a time. */
export function createRecordFold(runId: string): { readonly state: RunState; apply(update: RunUpdate): RunRecord } {
  const state = createRunState(runId);
  return {
    state,
    apply(update) {
      if (isLiveSignal(update)) applyLive(state, update);
      else evolve(state, update);
      return state.record;
    },
  };
}

/** Whether the record's run has ended (succeeded, failed or cancelled). */
export function isRunFinished(record: Pick<RunRecord, "status">): boolean {
  return isFinished({ record: record as RunRecord });
}
