/**
 * A run's stored history -> the events `evolve` folds, in the order its writer
 * decided them.
 *
 * Reports and decisions are stored on two subjects, so the stored order can differ
 * from the order the coordinator saw: a worker may store its report while a decision
 * that the coordinator took *before* seeing that report is still on its way. Each
 * decision batch therefore records `through`, the sequence number of the last report
 * its writer had applied. Folding a decision right after that report (and before
 * any later one) replays exactly what the writer knew: the live coordinator and every
 * reader agree, whatever the interleaving on the wire.
 *
 * A batch gathers what was decided while the previous batch was being stored; a
 * `through` marker inside it says where further reports were applied in between.
 *
 * Writers apply reports in stored order, and a new leaseholder folds everything
 * before it writes, so `through` never goes down along the decision subject.
 */
import type { ChildEndedMessage, ChildEndedRunEvent, Decision, DecisionRunEvent, HistoryMessage, Report, ReportRunEvent, ReportSubjectMessage, RunEvent, SignalMessage, SignalRunEvent, StoredMessage } from "../../transport/messages.js";

/** The events of one decision batch, stamped with its run id and time. */
export function decisionEvents(decision: Decision): DecisionRunEvent[] {
  const { runId } = decision;
  let at = decision.at;
  return decision.events.map((e) => {
    // A marker says when the events after it were decided.
    if (e.type === "through") at = e.at;
    return { ...e, runId, at };
  });
}

/** A stored report (or signal) as the fold reads it. */
export function reportEvent(seq: number, report: Report): ReportRunEvent;
export function reportEvent(seq: number, report: SignalMessage): SignalRunEvent;
export function reportEvent(seq: number, report: ChildEndedMessage): ChildEndedRunEvent;
export function reportEvent(seq: number, report: ReportSubjectMessage): ReportRunEvent | SignalRunEvent | ChildEndedRunEvent;
export function reportEvent(seq: number, report: ReportSubjectMessage): ReportRunEvent | SignalRunEvent | ChildEndedRunEvent {
  // A plain copy (v and kind ride along unread): cheaper than dropping them, once per report.
  return { ...report, seq };
}

/**
 * Order a run's stored messages as their writers decided them and flatten them to events.
 * @example
 * const { messages } = await transport.readHistory(runId);
 * const state = foldHistory(model, historyEvents(messages));
 */
export function historyEvents(messages: readonly StoredMessage[]): RunEvent[] {
  const out: RunEvent[] = [];
  // Signals are stored on the report subject and ordered with the reports.
  const reports: { seq: number; message: ReportSubjectMessage }[] = [];
  const decisions: { seq: number; message: Decision }[] = [];
  for (const m of messages) {
    if (m.message.kind === "decision") decisions.push({ seq: m.seq, message: m.message });
    else reports.push({ seq: m.seq, message: m.message });
  }
  let r = 0;
  for (const d of decisions) {
    // Every report the writer had seen comes first; reports stored later wait.
    while (r < reports.length && reports[r]!.seq <= d.message.through) {
      out.push(reportEvent(reports[r]!.seq, reports[r]!.message));
      r++;
    }
    for (const e of decisionEvents(d.message)) {
      if (e.type === "through") {
        while (r < reports.length && reports[r]!.seq <= e.seq) {
          out.push(reportEvent(reports[r]!.seq, reports[r]!.message));
          r++;
        }
        continue;
      }
      out.push(e);
    }
  }
  for (; r < reports.length; r++) out.push(reportEvent(reports[r]!.seq, reports[r]!.message));
  return out;
}

/** The sequence number of the last stored decision in `messages` (0 when none). */
export function lastDecisionSeqOf(messages: readonly StoredMessage[]): number {
  let last = 0;
  for (const m of messages) if (m.message.kind === "decision") last = m.seq;
  return last;
}

export type { HistoryMessage };
