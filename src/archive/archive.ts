/**
 * Run archives: a finished (or running) run's whole stored history and the record folded
 * from it, in a form that can be kept and inspected without the engine or NATS. The JSON
 * archive is one document (`RunArchive`); the SQLite archive (sqlite.ts) has the same
 * content as tables. Both are built from the history alone, the same way every reader
 * of a run builds its record, so an archive of a fleet run and one of the same run
 * embedded differ only in ids and times.
 *
 * Rows derived here for the `events` and `attempts` tables:
 * - events, in the order the run's writer decided them (`historyEvents`), each with the
 *   stored sequence number of its message (a decision batch's events share one);
 * - attempts, one per `task.dispatched`, with the report of that attempt the fold accepts
 *   (the first with its token while the attempt was open) and how many reports it got in
 *   all: the one attempts fold (runtime/core/attempt-log.ts) the web view reads too.
 */
import { createAttemptLog } from "../runtime/core/attempt-log.js";
import { historyEvents } from "../runtime/core/history.js";
import { recordOfHistory } from "../runtime/core/run-record.js";
import type { RunRecord } from "../runtime/core/run-record-schema.js";
import type { RunEvent, StoredMessage } from "../transport/messages.js";

export const ARCHIVE_FORMAT = "phaseflow-run-archive";
export const ARCHIVE_FORMAT_VERSION = 1;

/** The JSON archive: one document. */
export interface RunArchive {
  format: typeof ARCHIVE_FORMAT;
  formatVersion: typeof ARCHIVE_FORMAT_VERSION;
  runId: string;
  /** ms since the epoch. */
  exportedAt: number;
  /** The run record folded from `history`. */
  record: RunRecord;
  /** A child run: its parent's run id (the whole reference is `record.parent`). */
  parent?: string;
  /** The child runs this run started, in task record order (`record.tasks[].child`): export each by its id. */
  children: string[];
  /** Every stored message of the run (decision batches and worker reports), in stored order. */
  history: StoredMessage[];
}

/** One event of the run in decided order, with the stored seq of its message. */
export interface ArchivedEvent {
  /** 1, 2, ... in decided order. */
  pos: number;
  seq: number;
  kind: "decision" | "report";
  event: RunEvent;
}

/** One dispatched attempt and what came of it. */
export interface AttemptRow {
  dispatchId: string;
  /** The task record's id (`state/task`). */
  taskId: string;
  state: string;
  visit: number;
  task: string;
  attempt: number;
  executor: string;
  dispatchedAt: number;
  deadline: number | null;
  /** "succeeded" / "failed" from the accepted report; "none" when no report of it was accepted. */
  outcome: "succeeded" | "failed" | "none";
  workerId: string | undefined;
  reportedAt: number | undefined;
  durationMs: number | undefined;
  output: unknown;
  error: unknown;
  /** Reports stored for this attempt (redeliveries and resends store more than one). */
  reports: number;
}

/**
 * Build the archive of a run from its stored history.
 * @throws Error when `history` is empty (no such run, or it was pruned)
 * @example
 * const archive = archiveOf(runId, (await transport.readHistory(runId)).messages);
 */
export function archiveOf(runId: string, history: readonly StoredMessage[], exportedAt = Date.now()): RunArchive {
  const record = recordOfHistory(history);
  const children = record.tasks.flatMap((t) => (t.child !== undefined ? [t.child] : []));
  return { format: ARCHIVE_FORMAT, formatVersion: ARCHIVE_FORMAT_VERSION, runId, exportedAt, record, ...(record.parent !== undefined ? { parent: record.parent.runId } : {}), children, history: [...history] };
}

/** The run's events in decided order, each with its message's seq. */
export function archivedEvents(history: readonly StoredMessage[]): ArchivedEvent[] {
  // Tag each decision event with its batch's seq; decisionEvents() copies the tag along.
  const tagged = history.map((m) =>
    m.message.kind === "decision" ? { seq: m.seq, message: { ...m.message, events: m.message.events.map((e) => ({ ...e, [SEQ]: m.seq })) } } : m,
  );
  return historyEvents(tagged).map((e, i): ArchivedEvent => {
    if (!(SEQ in e)) return { pos: i + 1, seq: (e as { seq: number }).seq, kind: "report", event: e };
    const { [SEQ]: seq, ...event } = e as RunEvent & { [SEQ]: number };
    return { pos: i + 1, seq, kind: "decision", event };
  });
}

const SEQ = Symbol("seq");

/** One row per dispatched attempt, with its accepted report. */
export function attemptRows(events: readonly RunEvent[]): AttemptRow[] {
  const log = createAttemptLog();
  for (const e of events) log.apply(e);
  return log.all().map((a): AttemptRow => {
    const r = a.report;
    return {
      dispatchId: a.dispatchId,
      taskId: `${a.state}/${a.task}`,
      state: a.state,
      visit: a.visit,
      task: a.task,
      attempt: a.attempt,
      executor: a.executor,
      dispatchedAt: a.dispatchedAt,
      deadline: a.deadline,
      outcome: r?.outcome ?? "none",
      workerId: r?.workerId,
      reportedAt: r?.at,
      durationMs: r?.durationMs,
      output: r?.outcome === "succeeded" ? r.output : undefined,
      error: r?.outcome === "failed" ? r.error : undefined,
      reports: a.reports,
    };
  });
}
